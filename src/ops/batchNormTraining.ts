/**
 * Batch normalisation in training mode, optionally fused with ReLU (Ioffe & Szegedy 2015):
 *
 *   mean_c = E[x_{..c}],  var_c = E[(x_{..c} - mean_c)^2]          (biased, over all but C)
 *   y = gamma_c * (x - mean_c) / sqrt(var_c + epsilon) + beta_c,   then max(y, 0) if relu
 *
 * Returns the batch statistics too, for the running averages used at eval time.
 * Backends with a fused kernel ('ContrastreamBatchNormTrain', see src/backend/) run it in one
 * pass forward and one pass backward; others compose it from tf ops (autodiff).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

export interface BatchNormTrainingConfig {
  /** Added to the variance. Default 1e-5 (PyTorch's default). */
  epsilon?: number;
  /** Apply ReLU after the affine transform. Default false. */
  relu?: boolean;
}

export interface BatchNormTrainingResult {
  y: tf.Tensor; // same shape as x
  mean: tf.Tensor1D; // [C]
  variance: tf.Tensor1D; // [C] biased
}

/** Kernel name a backend registers to run batchNormTraining fused. */
export const BATCH_NORM_TRAIN_KERNEL = 'ContrastreamBatchNormTrain';

export function batchNormTraining(
  x: tf.Tensor, // [..., C]
  gamma: tf.Tensor1D, // [C]
  beta: tf.Tensor1D, // [C]
  config: BatchNormTrainingConfig = {},
): BatchNormTrainingResult {
  const epsilon = config.epsilon ?? 1e-5;
  const relu = config.relu ?? false;
  const c = x.shape[x.rank - 1];
  if (x.rank < 2) throw new ArgumentError('batchNormTraining', 'x', `must have rank >= 2, got shape [${x.shape}]`);
  if (gamma.rank !== 1 || gamma.shape[0] !== c) {
    throw new ArgumentError('batchNormTraining', 'gamma', `must have shape [${c}], got [${gamma.shape}]`);
  }
  if (beta.rank !== 1 || beta.shape[0] !== c) {
    throw new ArgumentError('batchNormTraining', 'beta', `must have shape [${c}], got [${beta.shape}]`);
  }
  if (!(epsilon > 0)) throw new ArgumentError('batchNormTraining', 'epsilon', `must be > 0, got ${epsilon}`);

  if (tf.getKernel(BATCH_NORM_TRAIN_KERNEL, tf.getBackend()) !== undefined) {
    const [y, mean, variance] = tf.engine().runKernel(
      BATCH_NORM_TRAIN_KERNEL,
      { x, gamma, beta } as unknown as tf.NamedTensorMap,
      { epsilon, relu } as unknown as tf.NamedAttrMap,
    ) as unknown as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    return { y, mean, variance };
  }

  return tf.tidy(() => {
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const { mean, variance } = tf.moments(x, axes); // [C], [C]
    const inv = tf.rsqrt(tf.add(variance, epsilon)); // [C]
    const scale = tf.mul(gamma, inv); // [C]
    const shift = tf.sub(beta, tf.mul(mean, scale)); // [C]
    let y = tf.add(tf.mul(x, scale), shift); // [..., C]
    if (relu) y = tf.relu(y);
    return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  });
}
