/**
 * ContrastreamBatchNormTrainGrad for the wasm backend, and a gradient of
 * ContrastreamBatchNormTrain that calls it (for any backend that registers both kernels).
 *
 * With g = dy (masked by y > 0 when ReLU is fused), x̂ = (x − mean)·istd, istd = 1/sqrt(var + eps)
 * and n values per channel (Ioffe & Szegedy 2015, the backward pass after Algorithm 1):
 *   dbeta  = Σ g
 *   dgamma = Σ g·x̂
 *   dx     = gamma·istd·(g − dbeta/n − x̂·dgamma/n)
 * Two SIMD passes: one reduction over (dy, x, y), one elementwise pass writing dx.
 *
 * Kernel contract (shared with the native addon's kernel of the same name,
 * src/backend/native/kernels/ContrastreamBatchNormTrainGrad.ts): inputs
 * {dy, x, gamma, beta, mean, variance, y}, attrs {epsilon, relu}, outputs [dx, dgamma, dbeta].
 * Gradients reaching the mean and variance outputs directly (rare: they normally feed only the
 * running averages) are added by the gradient function:  dx += dmean/n + dvar·2(x − mean)/n.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_NORM_TRAIN_KERNEL } from '../../../ops/batchNormTraining.ts';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { blockedColumnSums } from './batchNormTrain.ts';
import { ArgumentError } from '../../../errors.ts';

export const BATCH_NORM_TRAIN_GRAD_KERNEL = 'ContrastreamBatchNormTrainGrad';

export function batchNormTrainGrad(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info[] {
  const { inputs, backend } = args;
  const { dy, x, y, gamma, beta, mean, variance } = inputs as Record<string, Info>;
  const epsilon = Number((args.attrs as { epsilon?: number }).epsilon ?? 1e-5);
  const relu = Boolean((args.attrs as { relu?: boolean }).relu);
  const c = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / c;
  for (const [name, t] of Object.entries({ dy, x, y, gamma, beta, mean, variance })) {
    if (t === undefined) throw new ArgumentError(`wasm ${BATCH_NORM_TRAIN_GRAD_KERNEL}`, name, 'is missing');
    if (t.dtype !== 'float32') throw new ArgumentError(`wasm ${BATCH_NORM_TRAIN_GRAD_KERNEL}`, name, `must be float32, got ${t.dtype}`);
  }

  const s = new KernelScope(backend);
  try {
    const simd = simdKernels(backend);
    const yPtr = () => (relu ? ptr(backend, y) : 0);
    const [sumG, sumGX] = blockedColumnSums(
      s,
      rows,
      c,
      (r0, n, [accG, accGX]) =>
        simd.bnGradReduce(ptr(backend, dy) + r0 * c * 4, ptr(backend, x) + r0 * c * 4, relu ? yPtr() + r0 * c * 4 : 0, n, c, ptr(backend, mean), relu ? 1 : 0, accG, accGX),
      2,
    );
    const gv = heapF32(backend, gamma);
    const vv = heapF32(backend, variance);
    const a = new Float32Array(c);
    const b = new Float32Array(c);
    const k = new Float32Array(c);
    const dgamma = new Float32Array(c);
    const dbeta = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      const istd = 1 / Math.sqrt(vv[i] + epsilon);
      const dg = sumGX[i] * istd;
      const kk = gv[i] * istd;
      dgamma[i] = dg;
      dbeta[i] = sumG[i];
      a[i] = kk;
      b[i] = -(kk * istd * dg) / rows;
      k[i] = -(kk * sumG[i]) / rows;
    }
    const aI = s.fromValues([c], a);
    const bI = s.fromValues([c], b);
    const kI = s.fromValues([c], k);
    const dx = s.output(x.shape.slice(), 'float32');
    simd.bnGradApply(ptr(backend, dy), ptr(backend, x), yPtr(), rows, c, ptr(backend, mean), ptr(backend, aI), ptr(backend, bI), ptr(backend, kI), relu ? 1 : 0, ptr(backend, dx));
    const dgOut = s.keep(s.fromValues([c], dgamma));
    const dbOut = s.keep(s.fromValues([c], dbeta));
    return [s.keep(dx), dgOut, dbOut];
  } finally {
    s.dispose();
  }
}

export const batchNormTrainGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD_KERNEL,
  backendName: 'wasm',
  kernelFunc: batchNormTrainGrad as unknown as tf.KernelFunc,
};

/** True if `t` has a non-zero value (tfjs hands zeros, not null, for unused outputs). */
function nonZero(t: tf.Tensor | null | undefined): t is tf.Tensor {
  if (t === null || t === undefined) return false;
  const v = t.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return true;
  return false;
}

/**
 * Gradient of ContrastreamBatchNormTrain: one ContrastreamBatchNormTrainGrad call gives dx,
 * dgamma and dbeta; direct gradients of the mean and variance outputs are added with tf ops.
 * Saved: inputs x, gamma, beta; outputs y, mean, variance. Same contract as the native
 * addon's gradient (src/backend/native/batchNormTrainGradient.ts): whichever is registered
 * first serves both kernel sets.
 */
export const batchNormTrainGradientConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN_KERNEL,
  inputsToSave: ['x', 'gamma', 'beta'],
  outputsToSave: [true, true, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, gamma, beta, y, mean, variance] = saved;
    const [dyY, dyMean, dyVar] = Array.isArray(dys) ? dys : [dys, null, null];
    const dy = dyY ?? tf.zerosLike(x);
    const [dxMain, dgamma, dbeta] = tf.engine().runKernel(
      BATCH_NORM_TRAIN_GRAD_KERNEL,
      { dy, x, gamma, beta, mean, variance, y } as unknown as tf.NamedTensorMap,
      { epsilon: attrs.epsilon, relu: attrs.relu } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    const dMean = nonZero(dyMean) ? dyMean : null;
    const dVar = nonZero(dyVar) ? dyVar : null;
    let dx = dxMain;
    if (dMean !== null || dVar !== null) {
      dx = tf.tidy(() => {
        const n = x.size / x.shape[x.rank - 1];
        let extra: tf.Tensor = tf.zerosLike(x);
        if (dMean !== null) extra = tf.add(extra, tf.div(dMean, n));
        if (dVar !== null) extra = tf.add(extra, tf.mul(tf.div(tf.mul(dVar, 2), n), tf.sub(x, mean)));
        return tf.add(dxMain, extra);
      });
    }
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};
