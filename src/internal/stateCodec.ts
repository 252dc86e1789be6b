/**
 * JSON encoding of typed arrays for checkpoints: `{ dtype, base64 }` (little-endian bytes).
 * Uses the global btoa/atob of Node >= 16 and browsers, in chunks to bound string sizes.
 */
import { StateError } from '../errors.ts';

export interface EncodedArray {
  dtype: 'float32' | 'int32';
  base64: string;
}

const CHUNK = 0x8000;

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

function base64ToBytes(s: string): Uint8Array {
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function encodeArray(a: Float32Array | Int32Array): EncodedArray {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return { dtype: a instanceof Float32Array ? 'float32' : 'int32', base64: bytesToBase64(bytes) };
}

export function decodeArray(what: string, e: unknown, dtype: 'float32'): Float32Array;
export function decodeArray(what: string, e: unknown, dtype: 'int32'): Int32Array;
export function decodeArray(what: string, e: unknown, dtype: 'float32' | 'int32'): Float32Array | Int32Array {
  const enc = e as EncodedArray;
  if (enc === null || typeof enc !== 'object' || enc.dtype !== dtype || typeof enc.base64 !== 'string') {
    throw new StateError(`${what}: expected an encoded ${dtype} array { dtype: '${dtype}', base64 }; the checkpoint is malformed`);
  }
  let bytes: Uint8Array;
  try {
    bytes = base64ToBytes(enc.base64);
  } catch (cause) {
    throw new StateError(`${what}: invalid base64 in the checkpoint`, { cause });
  }
  if (bytes.length % 4 !== 0) throw new StateError(`${what}: ${bytes.length} bytes is not a whole number of ${dtype} values`);
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
}
