/**
 * A tf.io.IOHandler that saves to and loads from a folder with node:fs, so weights round-trip
 * on every backend (tfjs-node's `file://` handler exists only with tfjs-node).
 *
 * Layout (the tfjs model.json format, readable by tf.io.getModelArtifactsForJSON):
 *   <dir>/model.json                weightsManifest [{ paths, weights: weightSpecs }],
 *                                   userDefinedMetadata, and a `contrastream` section with the
 *                                   byte length and sha256 of every weights file
 *   <dir>/weights.<sha256:16>.bin   the weight bytes (little-endian, in spec order)
 *
 * Saving is atomic: each file is written to a temporary file in the same folder, fsynced and
 * renamed into place; model.json is renamed last, so a crash leaves either the old or the new
 * checkpoint, never a mix (the weights file name carries its content hash). Weights files the
 * previous model.json named are removed after the new one is in place.
 *
 * Loading refuses manifest paths that are absolute, URLs or drive paths, contain '..', or
 * resolve (lexically or through a symlink) outside the folder — UnsafePathError.
 * A missing, truncated or corrupt file (size or sha256 mismatch, bad JSON) is a
 * CorruptWeightsError naming the file.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ArgumentError, CorruptWeightsError, UnsafePathError } from '../errors.ts';

/** File name of the manifest inside the folder. */
export const MODEL_JSON = 'model.json';
const FORMAT_VERSION = 1;

interface FileRecord {
  byteLength: number;
  sha256: string;
}

interface ManifestJSON {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology?: unknown;
  trainingConfig?: unknown;
  signature?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
  modelInitializer?: unknown;
  weightsManifest?: tf.io.WeightsManifestConfig;
  contrastream?: { formatVersion: number; files: Record<string, FileRecord> };
}

/** Folder IO handler for tf.io: `fileSystemIO('runs/simclr/ckpt')`. */
export function fileSystemIO(dir: string): tf.io.IOHandler {
  if (typeof dir !== 'string' || dir === '') throw new ArgumentError('fileSystemIO', 'dir', 'must be a non-empty path');
  return {
    save: (artifacts) => saveToFolder(dir, artifacts),
    load: () => loadFromFolder(dir),
  };
}

function weightBuffer(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data;
}

async function saveToFolder(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new ArgumentError('fileSystemIO.save', 'artifacts.modelTopology', 'must be JSON (binary topologies are not supported)');
  }
  const data = Buffer.from(weightBuffer(artifacts.weightData));
  const specs = artifacts.weightSpecs ?? [];
  const sha256 = createHash('sha256').update(data).digest('hex');
  const binName = `weights.${sha256.slice(0, 16)}.bin`;
  await mkdir(dir, { recursive: true });
  const previous = await previousWeightFiles(dir);

  await writeAtomic(dir, binName, data);
  const manifest: ManifestJSON = {
    format: artifacts.format ?? 'contrastream-weights',
    generatedBy: artifacts.generatedBy ?? 'contrastream',
    convertedBy: artifacts.convertedBy ?? null,
    ...(artifacts.modelTopology !== undefined ? { modelTopology: artifacts.modelTopology } : {}),
    ...(artifacts.trainingConfig !== undefined ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.signature !== undefined ? { signature: artifacts.signature } : {}),
    ...(artifacts.userDefinedMetadata !== undefined ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    ...(artifacts.modelInitializer !== undefined ? { modelInitializer: artifacts.modelInitializer } : {}),
    weightsManifest: [{ paths: [binName], weights: specs }],
    contrastream: { formatVersion: FORMAT_VERSION, files: { [binName]: { byteLength: data.byteLength, sha256 } } },
  };
  const json = JSON.stringify(manifest, null, 1);
  await writeAtomic(dir, MODEL_JSON, Buffer.from(json, 'utf8'));
  await syncDir(dir);
  for (const old of previous) {
    if (old !== binName) await rm(path.join(dir, old), { force: true }).catch(() => undefined);
  }
  return {
    modelArtifactsInfo: {
      dateSaved: new Date(),
      modelTopologyType: 'JSON',
      modelTopologyBytes: artifacts.modelTopology === undefined ? 0 : Buffer.byteLength(JSON.stringify(artifacts.modelTopology)),
      weightSpecsBytes: Buffer.byteLength(JSON.stringify(specs)),
      weightDataBytes: data.byteLength,
    },
  };
}

/** Weights files named by the current model.json that are plain names in the folder. */
async function previousWeightFiles(dir: string): Promise<string[]> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, MODEL_JSON), 'utf8')) as ManifestJSON;
    const names = (m.weightsManifest ?? []).flatMap((g) => g.paths ?? []);
    return names.filter((n) => typeof n === 'string' && /^[A-Za-z0-9_.-]+$/.test(n) && n !== MODEL_JSON && !n.startsWith('.') && n.endsWith('.bin'));
  } catch {
    return [];
  }
}

/** Writes `name` in `dir` via a temp file in the same folder: write, fsync, rename. */
export async function writeAtomic(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path.join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** fsyncs the folder so the renames are durable (not possible on every platform). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows cannot open a directory for fsync; the renames are still atomic.
  }
}

/** Whether a path relative to the folder (path.relative output) names something strictly inside it. */
function isInside(rel: string): boolean {
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/**
 * Checks one manifest path and returns the absolute file path. Lexical checks only; the
 * symlink check needs the file and is done in `readWeightsFile`.
 */
export function resolveManifestPath(dir: string, manifestFile: string, entry: unknown): string {
  const shown = typeof entry === 'string' ? entry : String(entry);
  if (typeof entry !== 'string' || entry === '') throw new UnsafePathError(manifestFile, shown, 'is not a non-empty string');
  if (entry.includes('\0')) throw new UnsafePathError(manifestFile, shown, 'contains a NUL byte');
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(entry)) throw new UnsafePathError(manifestFile, shown, 'is a URL or a drive path');
  if (path.posix.isAbsolute(entry) || path.win32.isAbsolute(entry)) throw new UnsafePathError(manifestFile, shown, 'is absolute');
  // Any '..' at all, not just a '..' segment: stricter than needed, and no saved name has one.
  if (entry.includes('..')) throw new UnsafePathError(manifestFile, shown, "contains '..'");
  const root = path.resolve(dir);
  const file = path.resolve(root, entry);
  const rel = path.relative(root, file);
  if (!isInside(rel)) throw new UnsafePathError(manifestFile, shown, 'resolves outside the model folder');
  return file;
}

function bytesPerElement(spec: tf.io.WeightsManifestEntry, manifestFile: string): number {
  const q = spec.quantization?.dtype;
  if (q !== undefined) {
    if (q === 'uint8') return 1;
    if (q === 'uint16' || q === 'float16') return 2;
    throw new CorruptWeightsError(manifestFile, `weight '${spec.name}' has unknown quantization dtype '${String(q)}'`);
  }
  switch (spec.dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'bool':
      return 1;
    case 'complex64':
      return 8;
    default:
      throw new CorruptWeightsError(manifestFile, `weight '${spec.name}' has unsupported dtype '${String(spec.dtype)}'`);
  }
}

function checkSpec(spec: unknown, manifestFile: string): tf.io.WeightsManifestEntry {
  const s = spec as tf.io.WeightsManifestEntry;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.name !== 'string' ||
    !Array.isArray(s.shape) ||
    !s.shape.every((d) => Number.isInteger(d) && d >= 0) ||
    typeof s.dtype !== 'string'
  ) {
    throw new CorruptWeightsError(manifestFile, `has a malformed weight spec ${JSON.stringify(spec)?.slice(0, 200)}`);
  }
  return s;
}

async function readWeightsFile(root: string, realRoot: string, manifestFile: string, entry: string, file: string): Promise<Buffer> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    throw new CorruptWeightsError(file, `is missing or unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)}), but ${MODEL_JSON} names it`, { cause: err });
  }
  const rel = path.relative(realRoot, real);
  if (!isInside(rel)) {
    throw new UnsafePathError(manifestFile, entry, `resolves outside the model folder ${root} (through a symbolic link, to ${real})`);
  }
  try {
    if (!(await stat(real)).isFile()) throw new Error('not a regular file');
    return await readFile(real);
  } catch (err) {
    throw new CorruptWeightsError(file, `cannot be read (${(err as Error).message})`, { cause: err });
  }
}

async function loadFromFolder(dir: string): Promise<tf.io.ModelArtifacts> {
  const root = path.resolve(dir);
  const manifestFile = path.join(root, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch (err) {
    throw new CorruptWeightsError(manifestFile, `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); is '${dir}' a folder written by saveWeights?`, { cause: err });
  }
  let m: ManifestJSON;
  try {
    m = JSON.parse(text) as ManifestJSON;
  } catch (err) {
    throw new CorruptWeightsError(manifestFile, `is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CorruptWeightsError(manifestFile, 'is not a JSON object');
  const groups = m.weightsManifest ?? [];
  if (!Array.isArray(groups)) throw new CorruptWeightsError(manifestFile, "has a 'weightsManifest' that is not an array");
  const records = m.contrastream?.files ?? {};

  // Check every path before reading any file.
  const plan = groups.map((g, gi) => {
    if (typeof g !== 'object' || g === null || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new CorruptWeightsError(manifestFile, `weightsManifest[${gi}] needs 'paths' and 'weights' arrays`);
    }
    const files = g.paths.map((p) => ({ entry: p, file: resolveManifestPath(root, manifestFile, p) }));
    const specs = g.weights.map((s) => checkSpec(s, manifestFile));
    return { files, specs };
  });

  const realRoot = await realpath(root);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Buffer[] = [];
  for (const group of plan) {
    let expected = 0;
    for (const s of group.specs) expected += s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s, manifestFile);
    let got = 0;
    const groupChunks: Buffer[] = [];
    for (const { entry, file } of group.files) {
      const buf = await readWeightsFile(root, realRoot, manifestFile, entry, file);
      const rec = records[entry];
      if (rec !== undefined) {
        if (buf.byteLength !== rec.byteLength) {
          throw new CorruptWeightsError(file, `${buf.byteLength < rec.byteLength ? 'is truncated' : 'has the wrong size'}: ${buf.byteLength} bytes, ${MODEL_JSON} records ${rec.byteLength}`);
        }
        const sha = createHash('sha256').update(buf).digest('hex');
        if (sha !== rec.sha256) throw new CorruptWeightsError(file, `is corrupt: its sha256 ${sha.slice(0, 16)}… differs from the ${rec.sha256.slice(0, 16)}… recorded in ${MODEL_JSON}`);
      }
      got += buf.byteLength;
      groupChunks.push(buf);
    }
    if (got !== expected) {
      const last = group.files[group.files.length - 1]?.file ?? manifestFile;
      throw new CorruptWeightsError(
        last,
        `${got < expected ? 'is truncated' : 'has extra bytes'}: the weights ${group.files.length > 1 ? 'files hold' : 'file holds'} ${got} bytes, the ${group.specs.length} weight specs in ${MODEL_JSON} need ${expected}`,
      );
    }
    specs.push(...group.specs);
    chunks.push(...groupChunks);
  }
  const all = Buffer.concat(chunks);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  const artifacts: tf.io.ModelArtifacts = { weightSpecs: specs, weightData };
  if (m.format !== undefined) artifacts.format = m.format;
  if (m.generatedBy !== undefined) artifacts.generatedBy = m.generatedBy;
  if (m.convertedBy !== undefined) artifacts.convertedBy = m.convertedBy;
  if (m.modelTopology !== undefined) artifacts.modelTopology = m.modelTopology as object;
  if (m.trainingConfig !== undefined) artifacts.trainingConfig = m.trainingConfig as tf.io.TrainingConfig;
  if (m.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = m.userDefinedMetadata as { [key: string]: {} };
  if (m.signature !== undefined) artifacts.signature = m.signature as object;
  if (m.modelInitializer !== undefined) artifacts.modelInitializer = m.modelInitializer as object;
  return artifacts;
}
