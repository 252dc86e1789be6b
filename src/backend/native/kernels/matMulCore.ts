/**
 * Shared body of the native BatchMatMul and _FusedMatMul kernels.
 * out[..., M, N] = op(a)[..., M, K] op(b)[..., K, N] (+ bias[N]) (relu), where op transposes the
 * last two axes when asked. Batch dims follow tfjs' kernel semantics: the outer dims of a and b
 * are flattened and output batch i reads a[i % batchA] and b[i % batchB]; the output shape is the
 * broadcast of both outer shapes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, heap, offsetOf } from '../wasmHeap.ts';

export function nativeMatMul(
  kernel: string,
  addon: NativeAddon,
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: tf.TensorInfo | null,
  act: number,
): tf.TensorInfo {
  checkFloat32(kernel, { a, b, bias: bias ?? undefined });
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) {
    throw new ArgumentError(kernel, 'a/b', `must have rank >= 2, got [${a.shape}] and [${b.shape}]`);
  }
  const innerA = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const innerB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (innerA !== innerB) {
    throw new ArgumentError(
      kernel, 'a/b',
      `have different inner dimensions (${innerA} vs ${innerB}): a [${a.shape}], b [${b.shape}], ` +
        `transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const K = innerA;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const outOuter = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = Math.max(batchA, batchB);
  const outShape = [...outOuter, M, N];
  if (bias !== null && tf.util.sizeFromShape(bias.shape) !== N) {
    throw new ArgumentError(kernel, 'bias', `must have ${N} elements (one per output column), got [${bias.shape}]`);
  }
  const out = backend.makeOutput(outShape, 'float32');
  if (batch * M * N === 0) return out;
  const lda = a.shape[ra - 1];
  const ldb = b.shape[rb - 1];
  const sizeA = a.shape[ra - 2] * lda;
  const sizeB = b.shape[rb - 2] * ldb;
  const buf = heap(backend);
  const aOff = offsetOf(backend, a);
  const bOff = offsetOf(backend, b);
  const cOff = offsetOf(backend, out);
  const biasOff = bias === null ? -1 : offsetOf(backend, bias);
  const tA = transposeA ? 1 : 0;
  const tB = transposeB ? 1 : 0;
  const uniform = (batchA === batch || batchA === 1) && (batchB === batch || batchB === 1);
  if (uniform) {
    addon.gemm(buf, aOff, bOff, cOff, biasOff, M, N, K, lda, ldb, N, tA, tB, 1, 0, act,
      batch, batchA === 1 ? 0 : sizeA, batchB === 1 ? 0 : sizeB, M * N);
  } else {
    for (let i = 0; i < batch; i++) {
      addon.gemm(buf, aOff + 4 * (i % batchA) * sizeA, bOff + 4 * (i % batchB) * sizeB, cOff + 4 * i * M * N,
        biasOff, M, N, K, lda, ldb, N, tA, tB, 1, 0, act);
    }
  }
  return out;
}
