/**
 * BatchMatMul for the wasm backend. The stock kernel runs XNNPACK (fully-connected operator)
 * only for batch 1 without transposes and a scalar blocked loop otherwise — and tfjs' matMul
 * gradient always sets a transpose flag, as does every z·zᵀ similarity matrix. This kernel
 * routes every case to the XNNPACK path:
 *   - a transposed operand is transposed first (SIMD 4x4-block transpose, simdModule.ts);
 *   - a right-hand side shared by the whole batch folds the batch into the rows: one
 *     [batch·M, K] x [K, N] product;
 *   - otherwise each batch element is one XNNPACK product on zero-copy views of the operands.
 * Batch dimensions broadcast like numpy (tf.matMul's contract). Small products, where the
 * per-call overhead of the XNNPACK operator outweighs the arithmetic, stay on the stock loop
 * (see `preferStock`, tuned with bench/wasmKernels.ts).
 *
 * The XNNPACK operator is cached on the right-hand tensor's id and freed with it; the
 * right-hand operand passed to it is always a tensor or view this kernel owns, so nothing
 * outlives the call.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, alias, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

/**
 * Whether the stock scalar loop is the better choice: products with fewer than
 * STOCK_MAX_MACS multiply-adds per batch element, where creating the XNNPACK operator
 * (~30-60 µs) costs more than the loop. Measured crossover on this project's machines:
 * 14-30 thousand multiply-adds.
 */
export const STOCK_MAX_MACS = 16384;

function preferStock(m: number, k: number, n: number): boolean {
  return m * k * n < STOCK_MAX_MACS;
}

/** Broadcast batch index pairs (ia, ib) for each output batch element, numpy-style. */
export function broadcastBatchPairs(outerA: number[], outerB: number[]): { shape: number[]; pairs: [number, number][] } {
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const rank = shape.length;
  const pa = [...new Array(rank - outerA.length).fill(1), ...outerA];
  const pb = [...new Array(rank - outerB.length).fill(1), ...outerB];
  const total = tf.util.sizeFromShape(shape);
  const pairs: [number, number][] = [];
  const idx = new Array(rank).fill(0);
  for (let t = 0; t < total; t++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      ia = ia * pa[d] + (pa[d] === 1 ? 0 : idx[d]);
      ib = ib * pb[d] + (pb[d] === 1 ? 0 : idx[d]);
    }
    pairs.push([ia, ib]);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { shape, pairs };
}

export function batchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: tf.NamedAttrMap }): Info {
  const { inputs, backend } = args;
  const a = inputs.a as Info;
  const b = inputs.b as Info;
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new ArgumentError('wasm BatchMatMul', 'a, b', `must be float32, got ${a.dtype} and ${b.dtype}`);
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new ArgumentError(
      'wasm BatchMatMul',
      'a, b',
      `have inner dimensions ${k} and ${kb} (shapes [${a.shape}] and [${b.shape}], transposeA=${transposeA}, ` +
        `transposeB=${transposeB}); they must match`,
    );
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const { shape: outer, pairs } = broadcastBatchPairs(outerA, outerB);
  const batch = pairs.length;
  const outShape = [...outer, m, n];

  const s = new KernelScope(backend);
  try {
    if (batch === 0 || m === 0 || n === 0) return s.keep(s.output(outShape));
    if (k === 0) return s.keep(s.zeros(outShape));
    // The stock kernel is right only for equal batch sizes (it does not broadcast); it is
    // XNNPACK for batch 1 without transposes, and wins for tiny products.
    if (batchA === batchB && ((batch === 1 && !transposeA && !transposeB) || preferStock(m, k, n))) {
      const out = s.stock('BatchMatMul', { a, b }, { transposeA, transposeB });
      s.keep(out);
      return { ...out, shape: outShape };
    }
    const simd = simdKernels(backend);
    // Operands as row-major [batchA, M, K] and [batchB, K, N].
    let a3 = alias(a, [batchA, transposeA ? k : m, transposeA ? m : k]);
    if (transposeA) {
      a3 = s.output([batchA, m, k]);
      simd.transpose(ptr(backend, a), ptr(backend, a3), batchA, k, m, k * m * 4, m * 4, m * k * 4, k * 4);
    }
    let b3 = alias(b, [batchB, k, n]);
    if (transposeB) {
      b3 = s.output([batchB, k, n]);
      simd.transpose(ptr(backend, b), ptr(backend, b3), batchB, n, k, n * k * 4, k * 4, k * n * 4, n * 4);
    }
    // The right-hand operand is always a view with a fresh id, so the XNNPACK operator cached
    // on it is freed when the view is, whoever owns the data.
    if (batchB === 1 && batchA === batch) {
      // b shared by the batch: one [batch·M, K] x [K, N] product.
      const out = s.stock('BatchMatMul', { a: alias(a3, [1, batch * m, k]), b: s.view(b3, 0, [1, k, n]) }, { transposeA: false, transposeB: false });
      s.keep(out);
      return { ...out, shape: outShape };
    }
    const out = s.output(outShape);
    for (let t = 0; t < batch; t++) {
      const [ia, ib] = pairs[t];
      const lhs = s.view(a3, ia * m * k, [1, m, k]);
      const rhs = s.view(b3, ib * k * n, [1, k, n]);
      const part = s.stock('BatchMatMul', { a: lhs, b: rhs }, { transposeA: false, transposeB: false });
      simd.copyRows(ptr(backend, part), ptr(backend, out) + t * m * n * 4, 1, 1, 1, m * n, 0, 0, 0, 0, 0, 0);
      s.free(part);
      s.freeView(rhs);
      s.freeView(lhs);
    }
    return s.keep(out);
  } finally {
    s.dispose();
  }
}

export const batchMatMulConfig: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: batchMatMul as unknown as tf.KernelFunc,
};
