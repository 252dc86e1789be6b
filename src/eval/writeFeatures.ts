/**
 * Writes features for downstream use (`contrastream embed`), by the file's extension:
 *
 * - `.npy`  NumPy format 1.0, little-endian float32 `[N, D]` (`np.load(file)`); labels, when
 *           there are any, go beside it as int32 `[N]` in `<name>.labels.npy`, and image paths
 *           (image folders) as one per line in `<name>.paths.txt`.
 * - `.json` `{ "shape": [N, D], "features": [[...], ...], "labels": [...]?, "paths": [...]? }`.
 *
 * Files are written atomically (temp file, fsync, rename). `readNpy` reads the subset of
 * the format written here (for tests and tools).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { ArgumentError, ContrastreamError } from '../errors.ts';

/** Written features could not be read back (not an .npy file of the supported kind). */
export class NpyFormatError extends ContrastreamError {}

export interface FeatureFile {
  /** [N * D] row-major float32. */
  features: Float32Array;
  /** [N, D] */
  shape: [number, number];
  /** [N] class ids (-1 where missing), optional. */
  labels?: Int32Array;
  /** [N] source paths, optional. */
  paths?: string[];
}

function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** Encodes a C-order little-endian array as NPY 1.0 bytes. */
export function encodeNpy(data: Float32Array | Int32Array, shape: readonly number[]): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : '<i4';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Typed arrays are little-endian on every platform Node supports (x64, arm64).
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Reads an NPY 1.0 file of '<f4' or '<i4' in C order. */
export function readNpy(file: string): { data: Float32Array | Int32Array; shape: number[] } {
  const buf = readFileSync(file);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new NpyFormatError(`${file}: not an .npy file (bad magic)`);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (/'fortran_order':\s*True/.test(header)) throw new NpyFormatError(`${file}: Fortran order is not supported`);
  if ((descr !== '<f4' && descr !== '<i4') || shapeText === undefined) throw new NpyFormatError(`${file}: only '<f4'/'<i4' arrays are supported, header ${header.trim()}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 10 + headerLen;
  if (buf.length - start !== count * 4) throw new NpyFormatError(`${file}: ${buf.length - start} data bytes for shape (${shape}) of 4-byte items`);
  const bytes = new Uint8Array(buf.subarray(start)).slice(); // aligned copy
  return { data: descr === '<f4' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer), shape };
}

/** Writes features to `file` (.npy or .json). Returns the files written. */
export function writeFeatures(file: string, f: FeatureFile): string[] {
  const [n, d] = f.shape;
  if (f.features.length !== n * d) throw new ArgumentError('writeFeatures', 'features', `has ${f.features.length} values for shape [${n}, ${d}]`);
  if (f.labels !== undefined && f.labels.length !== n) throw new ArgumentError('writeFeatures', 'labels', `has ${f.labels.length} entries for ${n} rows`);
  if (f.paths !== undefined && f.paths.length !== n) throw new ArgumentError('writeFeatures', 'paths', `has ${f.paths.length} entries for ${n} rows`);
  const lower = file.toLowerCase();
  if (lower.endsWith('.npy')) {
    const base = file.slice(0, -4);
    const written = [file];
    writeAtomic(file, encodeNpy(f.features, [n, d]));
    if (f.labels !== undefined) {
      writeAtomic(`${base}.labels.npy`, encodeNpy(f.labels, [n]));
      written.push(`${base}.labels.npy`);
    }
    if (f.paths !== undefined) {
      writeAtomic(`${base}.paths.txt`, f.paths.join('\n') + '\n');
      written.push(`${base}.paths.txt`);
    }
    return written;
  }
  if (lower.endsWith('.json')) {
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) rows.push(Array.from(f.features.subarray(i * d, (i + 1) * d)));
    const out: Record<string, unknown> = { shape: [n, d], features: rows };
    if (f.labels !== undefined) out.labels = Array.from(f.labels);
    if (f.paths !== undefined) out.paths = f.paths;
    writeAtomic(file, JSON.stringify(out));
    return [file];
  }
  throw new ArgumentError('writeFeatures', 'file', `must end in .npy or .json, got '${file}'`);
}
