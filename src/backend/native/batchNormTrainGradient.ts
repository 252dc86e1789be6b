/**
 * Gradient of 'ContrastreamBatchNormTrain' (backend independent): one call of the fused
 * 'ContrastreamBatchNormTrainGrad' kernel gives dx, dgamma and dbeta. When the batch statistics
 * themselves receive gradients (rare: they usually only feed running averages), their terms are
 * added with tf ops:  dx += dmean / R + dvar * 2 (x - mean) / R. (tfjs hands zeros, not null,
 * for outputs outside the backprop graph, so those are detected by value.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { BATCH_NORM_TRAIN } from './kernels/ContrastreamBatchNormTrain.ts';
import { BATCH_NORM_TRAIN_GRAD } from './kernels/ContrastreamBatchNormTrainGrad.ts';

function nonZero(t: tf.Tensor | null | undefined): t is tf.Tensor {
  if (t === null || t === undefined) return false;
  const v = t.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return true;
  return false;
}

export const batchNormTrainGradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAIN,
  inputsToSave: ['x', 'gamma', 'beta'],
  outputsToSave: [true, true, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x, gamma, beta, y, mean, variance] = saved;
    const [dyY, dyMean, dyVar] = Array.isArray(dys) ? dys : [dys, null, null];
    const dy = dyY ?? tf.zerosLike(x);
    const [dxMain, dgamma, dbeta] = tf.engine().runKernel(
      BATCH_NORM_TRAIN_GRAD,
      { dy, x, gamma, beta, mean, variance, y } as unknown as tf.NamedTensorMap,
      { epsilon: attrs.epsilon, relu: attrs.relu } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    // tfjs passes zeros (not null) for outputs outside the backprop graph; [C] reads are cheap
    // on the synchronous backends this kernel exists for.
    const dMean = nonZero(dyMean) ? dyMean : null;
    const dVar = nonZero(dyVar) ? dyVar : null;
    let dx = dxMain;
    if (dMean !== null || dVar !== null) {
      dx = tf.tidy(() => {
        const rows = x.size / x.shape[x.rank - 1];
        let extra = tf.zerosLike(x);
        if (dMean !== null) extra = tf.add(extra, tf.div(dMean, rows));
        if (dVar !== null) extra = tf.add(extra, tf.mul(tf.div(tf.mul(dVar, 2), rows), tf.sub(x, mean)));
        return tf.add(dxMain, extra);
      });
    }
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

/** Registers the gradient once (re-registering would only log a warning). */
export function registerBatchNormTrainGradient(): void {
  if (tf.getGradient(BATCH_NORM_TRAIN) === undefined) tf.registerGradient(batchNormTrainGradConfig);
}
