/**
 * Training checkpoints in a run folder.
 *
 *   <run>/checkpoints/step-<N>/model.json              manifest (tfjs weights-manifest format,
 *                                                        sha256 + byte length of the .bin) and
 *                                                        the checkpoint's metadata
 *   <run>/checkpoints/step-<N>/weights.<sha:16>.bin     every tensor, little-endian
 *   <run>/checkpoints/latest.json                       { step, dir } of the newest checkpoint
 *
 * Tensors: `module/<module>/<dotted weight name>` (parameters and buffers of every module of
 * the pipeline), `optimizer/<parameter>/<slot>` (optimizer slots), `state/<i>` (typed arrays of
 * the pipeline's `state()`: memory banks, queues, momentum encoders). The metadata holds step,
 * epoch, samples consumed, the optimizer's kind and iteration count (the LR schedule position)
 * and the JSON part of the pipeline state (RNG states, NCE normalisers, ...).
 *
 * Atomicity: a checkpoint is written into a hidden temporary folder next to the others
 * (`.step-<N>.<pid>.<random>.tmp`; every file written to a temp file, fsynced, renamed), the
 * folder is renamed to `step-<N>` when complete, the parent folder fsynced, and only then is
 * `latest.json` replaced (temp file, fsync, rename). A crash at any point leaves the previous
 * checkpoint and pointer intact; hidden temporary folders left by a crash are removed by the
 * next write. Reading checks the byte length and sha256 of the weights file: a truncated or
 * corrupt checkpoint is a CheckpointError naming the file.
 */
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, CheckpointError, CorruptWeightsError, NoCheckpointError, UnsafePathError } from '../errors.ts';
import { fileSystemIO, MODEL_JSON, syncDir, writeAtomic } from '../models/fileSystemIO.ts';
import type { OptimizerState } from '../optim/optimizer.ts';

/** Sub-folder of a run folder that holds the checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';
/** Pointer to the newest checkpoint, inside CHECKPOINTS_DIR. */
export const LATEST_JSON = 'latest.json';
const FORMAT = 'contrastream-checkpoint';
const VERSION = 1;
const STEP_DIR = /^step-(\d+)$/;
const TEMP_DIR = /^\.step-\d+\..*\.tmp$/;

/** One tensor as data. */
export interface TensorData {
  shape: number[];
  values: Float32Array | Int32Array;
}

/** Everything a run needs to continue exactly. */
export interface Checkpoint {
  /** Steps done (the last finished optimizer step, 1-based). */
  step: number;
  /** Epoch (0-based) of that step's batch. */
  epoch: number;
  /**
   * Where the data stream resumes: items of the source plan (across epochs) up to and
   * including the last sample trained (SourceConfig.start of the resumed source).
   */
  samplesConsumed: number;
  /** Pipeline name (definition `name`). */
  pipeline: string;
  /** Weights of every module: module name -> dotted weight name -> data. */
  modules: Record<string, Record<string, TensorData>>;
  /** Optimizer state (slots, iteration count = LR schedule position). */
  optimizer?: OptimizerState;
  /** The pipeline's `state()`: JSON values and Float32Array / Int32Array. */
  state?: Record<string, unknown>;
  /** Unix ms when it was taken. */
  time: number;
}

export interface WriteCheckpointConfig {
  /** Keep only the newest K checkpoints (0 = keep all). Default 3. */
  keep?: number;
  /** Test hook: runs after the checkpoint folder is complete, before it is renamed into place. */
  beforeCommit?: () => void | Promise<void>;
}

export const DEFAULT_WRITE_CHECKPOINT_CONFIG = { keep: 3 } as const;

/** A checkpoint on disk. */
export interface CheckpointRef {
  step: number;
  /** Absolute path of its folder. */
  dir: string;
}

interface Entry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

interface Meta {
  format: typeof FORMAT;
  version: number;
  step: number;
  epoch: number;
  samplesConsumed: number;
  pipeline: string;
  time: number;
  modules: string[];
  optimizer: { kind: string; iterations: number } | null;
  state: unknown;
}

const ARRAY_REF = '$array';

/** Replaces typed arrays in `value` by `{ $array: name }` and collects them. */
function encodeState(value: unknown, where: string, out: Entry[]): unknown {
  if (value instanceof Float32Array || value instanceof Int32Array) {
    const name = `state/${out.length}`;
    out.push({ name, shape: [value.length], dtype: value instanceof Float32Array ? 'float32' : 'int32', values: value });
    return { [ARRAY_REF]: name };
  }
  if (ArrayBuffer.isView(value)) {
    throw new ArgumentError('writeCheckpoint', `state${where}`, `is a ${value.constructor.name}; checkpoint state holds JSON values, Float32Array and Int32Array only`);
  }
  if (Array.isArray(value)) return value.map((v, i) => encodeState(v, `${where}[${i}]`, out));
  if (value !== null && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) o[k] = encodeState(v, `${where}.${k}`, out);
    }
    return o;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new ArgumentError('writeCheckpoint', `state${where}`, `is ${value}; checkpoint state must be finite`);
  }
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    throw new ArgumentError('writeCheckpoint', `state${where}`, `is a ${typeof value}; checkpoint state holds JSON values and typed arrays only`);
  }
  return value;
}

function decodeState(value: unknown, arrays: Map<string, TensorData>, file: string): unknown {
  if (Array.isArray(value)) return value.map((v) => decodeState(v, arrays, file));
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === ARRAY_REF) {
      const a = arrays.get(String(o[ARRAY_REF]));
      if (a === undefined) throw new CheckpointError(file, `names state tensor '${String(o[ARRAY_REF])}' that the weights file does not hold; the checkpoint is corrupt`);
      return a.values;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decodeState(o[k], arrays, file);
    return out;
  }
  return value;
}

function checkFinite(name: string, values: Float32Array | Int32Array): void {
  if (values instanceof Int32Array) return;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new CheckpointError(name, `holds ${values[i]} at index ${i}; refusing to write a checkpoint with non-finite weights (the previous checkpoint is kept)`);
    }
  }
}

function entriesOf(ckpt: Checkpoint): { entries: Entry[]; meta: Meta } {
  const entries: Entry[] = [];
  for (const [m, weights] of Object.entries(ckpt.modules)) {
    if (m.includes('/') || m === '') throw new ArgumentError('writeCheckpoint', 'modules', `has a module named '${m}'; names must be non-empty without '/'`);
    for (const [name, t] of Object.entries(weights)) {
      const full = `module/${m}/${name}`;
      checkFinite(full, t.values);
      entries.push({ name: full, shape: t.shape, dtype: t.values instanceof Int32Array ? 'int32' : 'float32', values: t.values });
    }
  }
  if (ckpt.optimizer !== undefined) {
    for (const [param, slots] of Object.entries(ckpt.optimizer.slots)) {
      for (const [slot, s] of Object.entries(slots)) {
        const full = `optimizer/${param}/${slot}`;
        checkFinite(full, s.values);
        entries.push({ name: full, shape: s.shape, dtype: 'float32', values: s.values });
      }
    }
  }
  const state = ckpt.state === undefined ? null : encodeState(ckpt.state, '', entries);
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.values.length) throw new ArgumentError('writeCheckpoint', e.name, `has shape [${e.shape}] but ${e.values.length} values`);
  }
  const meta: Meta = {
    format: FORMAT,
    version: VERSION,
    step: ckpt.step,
    epoch: ckpt.epoch,
    samplesConsumed: ckpt.samplesConsumed,
    pipeline: ckpt.pipeline,
    time: ckpt.time,
    modules: Object.keys(ckpt.modules),
    optimizer: ckpt.optimizer === undefined ? null : { kind: ckpt.optimizer.kind, iterations: ckpt.optimizer.iterations },
    state,
  };
  return { entries, meta };
}

/** Removes hidden temporary folders that a crashed save left behind. */
async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if (TEMP_DIR.test(n)) await rm(path.join(dir, n), { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Writes `ckpt` as `<runDir>/checkpoints/step-<step>` atomically, points latest.json at it and
 * keeps the newest `keep`. Returns the folder.
 */
export async function writeCheckpoint(runDir: string, ckpt: Checkpoint, config: WriteCheckpointConfig = {}): Promise<string> {
  const fn = 'writeCheckpoint';
  if (typeof runDir !== 'string' || runDir === '') throw new ArgumentError(fn, 'runDir', 'must be a non-empty path');
  if (!(Number.isInteger(ckpt.step) && ckpt.step >= 0)) throw new ArgumentError(fn, 'ckpt.step', `must be an integer >= 0, got ${ckpt.step}`);
  const keep = config.keep ?? DEFAULT_WRITE_CHECKPOINT_CONFIG.keep;
  if (!(Number.isInteger(keep) && keep >= 0)) throw new ArgumentError(fn, 'config.keep', `must be an integer >= 0 (0 keeps all), got ${keep}`);
  const { entries, meta } = entriesOf(ckpt);

  let bytes = 0;
  for (const e of entries) bytes += e.values.byteLength;
  const data = new Uint8Array(bytes);
  let off = 0;
  for (const e of entries) {
    data.set(new Uint8Array(e.values.buffer, e.values.byteOffset, e.values.byteLength), off);
    off += e.values.byteLength;
  }
  const specs: tf.io.WeightsManifestEntry[] = entries.map((e) => ({ name: e.name, shape: e.shape, dtype: e.dtype }));

  const root = path.resolve(runDir, CHECKPOINTS_DIR);
  await mkdir(root, { recursive: true });
  await removeStaleTemps(root);
  const name = `step-${ckpt.step}`;
  const tmp = path.join(root, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const final = path.join(root, name);
  try {
    await fileSystemIO(tmp).save!({
      format: FORMAT,
      generatedBy: 'contrastream',
      convertedBy: null,
      weightSpecs: specs,
      weightData: data.buffer,
      userDefinedMetadata: { checkpoint: meta as unknown as Record<string, never> },
    });
    await config.beforeCommit?.();
    // A folder of the same step (a re-run of that step) is swapped out, never merged.
    const old = path.join(root, `.${name}.old.${randomBytes(6).toString('hex')}.tmp`);
    let replaced = false;
    try {
      await rename(final, old);
      replaced = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await rename(tmp, final);
    await syncDir(root);
    if (replaced) await rm(old, { recursive: true, force: true }).catch(() => undefined);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  await writeAtomic(root, LATEST_JSON, Buffer.from(JSON.stringify({ step: ckpt.step, dir: name, time: ckpt.time }) + '\n'));
  await syncDir(root);
  if (keep > 0) await pruneCheckpoints(runDir, keep, ckpt.step);
  return final;
}

/** Checkpoint folders of a run, oldest first (complete ones only: temporaries are hidden). */
export async function listCheckpoints(runDir: string): Promise<CheckpointRef[]> {
  const root = path.resolve(runDir, CHECKPOINTS_DIR);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: CheckpointRef[] = [];
  for (const n of names) {
    const m = STEP_DIR.exec(n);
    if (m) out.push({ step: Number(m[1]), dir: path.join(root, n) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Deletes all but the newest `keep` checkpoints (never `protect`, the one latest.json names). */
export async function pruneCheckpoints(runDir: string, keep: number, protect?: number): Promise<void> {
  const all = await listCheckpoints(runDir);
  const drop = all.slice(0, Math.max(0, all.length - keep)).filter((c) => c.step !== protect);
  for (const c of drop) await rm(c.dir, { recursive: true, force: true });
}

/**
 * The newest checkpoint of a run folder: the one latest.json names, or (without a pointer,
 * e.g. after a crash between the folder rename and the pointer update) the highest step.
 * Throws NoCheckpointError when there is none, CheckpointError when latest.json is corrupt.
 */
export async function latestCheckpoint(runDir: string): Promise<CheckpointRef> {
  const root = path.resolve(runDir, CHECKPOINTS_DIR);
  const pointer = path.join(root, LATEST_JSON);
  let text: string | undefined;
  try {
    text = await readFile(pointer, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CheckpointError(pointer, `cannot be read (${(err as Error).message})`, { cause: err });
  }
  const all = await listCheckpoints(runDir);
  if (text !== undefined) {
    let p: { step?: unknown; dir?: unknown };
    try {
      p = JSON.parse(text) as { step?: unknown; dir?: unknown };
    } catch (err) {
      throw new CheckpointError(pointer, `is not valid JSON (${(err as Error).message}); delete it to fall back to the newest step-<N> folder`, { cause: err });
    }
    if (typeof p !== 'object' || p === null || typeof p.dir !== 'string' || !STEP_DIR.test(p.dir)) {
      throw new CheckpointError(pointer, `must be { "step": N, "dir": "step-N" }, got ${text.slice(0, 120)}; delete it to fall back to the newest step-<N> folder`);
    }
    const named = all.find((c) => path.basename(c.dir) === p.dir);
    if (named !== undefined) return named;
    // The pointer names a folder that is gone (pruned by hand): fall back to the newest.
  }
  const newest = all.at(-1);
  if (newest === undefined) throw new NoCheckpointError(path.resolve(runDir));
  return newest;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4 };

/** Reads a checkpoint folder (`step-<N>`). Truncated or corrupt files are CheckpointErrors naming the file. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const manifest = path.join(path.resolve(dir), MODEL_JSON);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a folder');
  } catch (err) {
    throw new CheckpointError(dir, `is not a checkpoint folder (${(err as Error).message})`, { cause: err });
  }
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await fileSystemIO(dir).load!();
  } catch (err) {
    if (err instanceof CorruptWeightsError) {
      const problem = err.message.replace(`${err.file}: `, '').replace(/\. Save the weights again.*$/s, '');
      throw new CheckpointError(err.file, `${problem}. The checkpoint ${path.resolve(dir)} is unusable; delete that folder to resume from the previous checkpoint`, { cause: err });
    }
    if (err instanceof UnsafePathError) throw new CheckpointError(err.manifest, err.message, { cause: err });
    throw err;
  }
  const meta = (artifacts.userDefinedMetadata as { checkpoint?: Meta } | undefined)?.checkpoint;
  if (meta === undefined || meta.format !== FORMAT) throw new CheckpointError(manifest, 'is not a contrastream checkpoint (no checkpoint metadata)');
  if (meta.version !== VERSION) throw new CheckpointError(manifest, `has checkpoint version ${String(meta.version)}; this build reads version ${VERSION}`);
  for (const k of ['step', 'epoch', 'samplesConsumed'] as const) {
    if (!(Number.isInteger(meta[k]) && meta[k] >= 0)) throw new CheckpointError(manifest, `has an invalid '${k}' (${String(meta[k])})`);
  }
  const buffer = (artifacts.weightData ?? new ArrayBuffer(0)) as ArrayBuffer;
  const modules: Record<string, Record<string, TensorData>> = {};
  for (const m of meta.modules ?? []) modules[m] = {};
  const slots: OptimizerState['slots'] = {};
  const arrays = new Map<string, TensorData>();
  let off = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const per = BYTES[spec.dtype];
    if (per === undefined || spec.quantization !== undefined) throw new CheckpointError(manifest, `weight '${spec.name}' has dtype ${spec.dtype}; checkpoints hold float32 and int32 only`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = buffer.slice(off, off + size * per);
    off += size * per;
    const values = spec.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
    const t: TensorData = { shape: [...spec.shape], values };
    const [kind] = spec.name.split('/', 1);
    const rest = spec.name.slice(kind.length + 1);
    if (kind === 'module') {
      const cut = rest.indexOf('/');
      const m = rest.slice(0, cut);
      if (cut <= 0 || !(m in modules)) throw new CheckpointError(manifest, `holds '${spec.name}' of a module the checkpoint does not list`);
      modules[m][rest.slice(cut + 1)] = t;
    } else if (kind === 'optimizer') {
      const cut = rest.lastIndexOf('/');
      if (cut <= 0 || !(values instanceof Float32Array)) throw new CheckpointError(manifest, `holds a malformed optimizer slot '${spec.name}'`);
      (slots[rest.slice(0, cut)] ??= {})[rest.slice(cut + 1)] = { shape: t.shape, values };
    } else if (kind === 'state') {
      arrays.set(spec.name, t);
    } else {
      throw new CheckpointError(manifest, `holds an unknown tensor '${spec.name}'`);
    }
  }
  const ckpt: Checkpoint = {
    step: meta.step,
    epoch: meta.epoch,
    samplesConsumed: meta.samplesConsumed,
    pipeline: String(meta.pipeline),
    modules,
    time: meta.time,
  };
  if (meta.optimizer !== null && meta.optimizer !== undefined) ckpt.optimizer = { kind: meta.optimizer.kind, iterations: meta.optimizer.iterations, slots };
  if (meta.state !== null && meta.state !== undefined) ckpt.state = decodeState(meta.state, arrays, manifest) as Record<string, unknown>;
  return ckpt;
}
