/**
 * Zero-copy access to tfjs-backend-wasm tensors for the native kernels.
 *
 * A float32 tensor's data lives in the wasm linear memory at
 * `backend.dataIdMap.get(dataId).memoryOffset`. The memory's ArrayBuffer is replaced whenever
 * the wasm heap grows (any `makeOutput` may grow it), so `heap()` must be read after every
 * output and temporary of a kernel has been allocated, right before the native call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The wasm heap's current ArrayBuffer. */
export function heap(backend: BackendWasm): ArrayBuffer {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer as ArrayBuffer;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: BackendWasm, t: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined) throw new Error('tensor data is not on the wasm backend (disposed?)');
  return data.memoryOffset;
}

/** A Float32Array view of a tensor in the wasm heap (valid until the heap grows). */
export function f32View(backend: BackendWasm, t: tf.TensorInfo): Float32Array {
  return new Float32Array(heap(backend), offsetOf(backend, t), tf.util.sizeFromShape(t.shape));
}

/** Throws unless every named input is a float32 tensor. */
export function checkFloat32(kernel: string, inputs: Record<string, tf.TensorInfo | undefined>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t !== undefined && t !== null && t.dtype !== 'float32') {
      throw new ArgumentError(kernel, name, `must be float32, got ${t.dtype}`);
    }
  }
}

/** The kernel registered before ours (stock wasm or another engineer's), used for cases we skip. */
export function previousKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  const k = tf.getKernel(kernelName, backendName);
  return k === undefined ? undefined : ({ ...k } as tf.KernelConfig);
}

/** A required kernel input; throws naming the kernel and the input when it is missing. */
export function input(inputs: tf.NamedTensorInfoMap, name: string, kernel: string): tf.TensorInfo {
  const t = inputs[name];
  if (t === undefined || t === null) throw new ArgumentError(kernel, name, 'is required');
  return t;
}
