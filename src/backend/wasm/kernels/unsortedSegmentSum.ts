/**
 * UnsortedSegmentSum for the wasm backend (the stock backend has none; tf.gather's gradient
 * needs it):
 *   out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...],   out [numSegments, ...x.shape[r:]]
 * where r = rank(segmentIds) and segmentIds matches the first r dimensions of x. Ids outside
 * [0, numSegments) are dropped (TensorFlow drops negative ids). float32 rows are added with a
 * SIMD loop; int32 in JavaScript.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, heapF32, heapI32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

export function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: tf.NamedAttrMap }): Info {
  const { inputs, backend } = args;
  const x = inputs.x as Info;
  const ids = inputs.segmentIds as Info;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new ArgumentError('wasm UnsortedSegmentSum', 'numSegments', `must be a non-negative integer, got ${numSegments}`);
  }
  if (ids.dtype !== 'int32') throw new ArgumentError('wasm UnsortedSegmentSum', 'segmentIds', `must be int32, got ${ids.dtype}`);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new ArgumentError('wasm UnsortedSegmentSum', 'x', `must be float32 or int32, got ${x.dtype}`);
  const r = ids.shape.length;
  if (r > x.shape.length || ids.shape.some((d, i) => d !== x.shape[i])) {
    throw new ArgumentError('wasm UnsortedSegmentSum', 'segmentIds', `shape [${ids.shape}] must match the first dimensions of x [${x.shape}]`);
  }
  const rows = tf.util.sizeFromShape(ids.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(r));
  const outShape = [numSegments, ...x.shape.slice(r)];

  const s = new KernelScope(backend);
  try {
    const out = s.zeros(outShape, x.dtype);
    const idv = heapI32(backend, ids);
    if (x.dtype === 'float32' && inner >= 8) {
      const simd = simdKernels(backend);
      const xp = ptr(backend, x);
      const op = ptr(backend, out);
      for (let i = 0; i < rows; i++) {
        const id = idv[i];
        if (id >= 0 && id < numSegments) simd.addInto(op + id * inner * 4, xp + i * inner * 4, inner);
      }
    } else {
      const xv = x.dtype === 'float32' ? heapF32(backend, x) : heapI32(backend, x);
      const ov = x.dtype === 'float32' ? heapF32(backend, out) : heapI32(backend, out);
      for (let i = 0; i < rows; i++) {
        const id = idv[i];
        if (id < 0 || id >= numSegments) continue;
        const src = i * inner;
        const dst = id * inner;
        for (let k = 0; k < inner; k++) ov[dst + k] += xv[src + k];
      }
    }
    return s.keep(out);
  } finally {
    s.dispose();
  }
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
