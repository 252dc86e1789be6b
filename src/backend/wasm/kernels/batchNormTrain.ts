/**
 * ContrastreamBatchNormTrain for the wasm backend: batch normalisation in training mode,
 * optionally fused with ReLU (the kernel behind src/ops/batchNormTraining.ts), in three SIMD
 * passes over x instead of the ~20 broadcasting tfjs ops of the composite path (whose Sum/Mean
 * over non-minor axes transpose first on wasm).
 *
 *   mean_c = (1/n) Σ x[·, c]                         n = size(x) / C
 *   var_c  = (1/n) Σ (x[·, c] − mean_c)²             (biased; two-pass for accuracy)
 *   y      = gamma_c · (x − mean_c) / sqrt(var_c + eps) + beta_c,  then max(y, 0) if relu
 *
 * Inputs {x [..., C], gamma [C], beta [C]}, attrs {epsilon, relu}; outputs [y, mean, variance].
 * Sums are accumulated in float32 over blocks of BLOCK_ROWS rows and across blocks in float64.
 * Its gradient is ContrastreamBatchNormTrainGrad (batchNormTrainGrad.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAIN_KERNEL } from '../../../ops/batchNormTraining.ts';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels, type SimdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

/** Rows summed in float32 before the partial sums are added up in float64. */
export const BLOCK_ROWS = 512;

/**
 * `outputs` per-channel sums over the rows of [rows, C] data, in float64:
 * `run(rowStart, rows, accs)` adds the float32 sums of rows [rowStart, rowStart + rows) into
 * the heap vectors at byte addresses `accs` (zeroed here before each block).
 */
export function blockedColumnSums(
  s: KernelScope,
  rows: number,
  c: number,
  run: (rowStart: number, rows: number, accs: number[]) => void,
  outputs = 1,
): Float64Array[] {
  const sums = Array.from({ length: outputs }, () => new Float64Array(c));
  const accs = Array.from({ length: outputs }, () => s.output([c]));
  const be = s.backend;
  for (let r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
    for (const a of accs) heapF32(be, a).fill(0);
    const n = Math.min(BLOCK_ROWS, rows - r0);
    run(r0, n, accs.map((a) => ptr(be, a)));
    accs.forEach((a, i) => {
      const v = heapF32(be, a);
      const out = sums[i];
      for (let k = 0; k < c; k++) out[k] += v[k];
    });
  }
  for (const a of accs) s.free(a);
  return sums;
}

/** Per-channel mean and biased variance of x viewed as [rows, C] (two passes). */
export function channelMoments(
  s: KernelScope,
  simd: SimdKernels,
  x: Info,
  rows: number,
  c: number,
): { mean: Float64Array; variance: Float64Array; meanInfo: Info } {
  const be = s.backend;
  const [sum] = blockedColumnSums(s, rows, c, (r0, n, [acc]) => simd.colSum(ptr(be, x) + r0 * c * 4, n, c, acc));
  const mean = sum.map((v) => v / rows);
  const meanInfo = s.fromValues([c], Float32Array.from(mean));
  const [ss] = blockedColumnSums(s, rows, c, (r0, n, [acc]) => simd.colSumSqDev(ptr(be, x) + r0 * c * 4, n, c, ptr(be, meanInfo), acc));
  const variance = ss.map((v) => v / rows);
  return { mean, variance, meanInfo };
}

export function batchNormTrain(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info[] {
  const { inputs, backend } = args;
  const x = inputs.x as Info;
  const gamma = inputs.gamma as Info;
  const beta = inputs.beta as Info;
  const epsilon = Number((args.attrs as { epsilon?: number }).epsilon ?? 1e-5);
  const relu = Boolean((args.attrs as { relu?: boolean }).relu);
  const c = x.shape[x.shape.length - 1];
  const rows = c === 0 ? 0 : tf.util.sizeFromShape(x.shape) / c;
  if (x.dtype !== 'float32' || gamma.dtype !== 'float32' || beta.dtype !== 'float32') {
    throw new ArgumentError(`wasm ${BATCH_NORM_TRAIN_KERNEL}`, 'x, gamma, beta', `must be float32, got ${x.dtype}, ${gamma.dtype}, ${beta.dtype}`);
  }
  if (gamma.shape.length !== 1 || gamma.shape[0] !== c || beta.shape.length !== 1 || beta.shape[0] !== c) {
    throw new ArgumentError(`wasm ${BATCH_NORM_TRAIN_KERNEL}`, 'gamma, beta', `must have shape [${c}], got [${gamma.shape}] and [${beta.shape}]`);
  }
  if (rows < 1) throw new ArgumentError(`wasm ${BATCH_NORM_TRAIN_KERNEL}`, 'x', `has no values per channel (shape [${x.shape}])`);

  const s = new KernelScope(backend);
  try {
    const simd = simdKernels(backend);
    const { mean, variance, meanInfo } = channelMoments(s, simd, x, rows, c);
    const g = heapF32(backend, gamma);
    const bt = heapF32(backend, beta);
    const scale = new Float32Array(c);
    const shift = new Float32Array(c);
    for (let k = 0; k < c; k++) {
      const sc = g[k] / Math.sqrt(variance[k] + epsilon);
      scale[k] = sc;
      shift[k] = bt[k] - mean[k] * sc;
    }
    const scaleInfo = s.fromValues([c], scale);
    const shiftInfo = s.fromValues([c], shift);
    const y = s.output(x.shape.slice(), 'float32');
    simd.scaleShift(ptr(backend, x), rows, c, ptr(backend, scaleInfo), ptr(backend, shiftInfo), relu ? 1 : 0, ptr(backend, y));
    const meanOut = s.keep(meanInfo);
    const varOut = s.keep(s.fromValues([c], Float32Array.from(variance)));
    return [s.keep(y), meanOut, varOut];
  } finally {
    s.dispose();
  }
}

export const batchNormTrainConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchNormTrain as unknown as tf.KernelFunc,
};
