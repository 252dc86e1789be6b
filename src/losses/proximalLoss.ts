/**
 * InstDisc's proximal regularisation (Wu, Xiong, Yu, Lin 2018, Sec. 3.4 "Proximal Regularization"): the term
 *
 *   lambda ||v_i^t - v_i^{t-1}||^2
 *
 * added to the NCE loss of instance i, which keeps the feature learned at iteration t close to
 * the one stored in the memory bank at iteration t-1 (stabilising the fluctuating per-instance
 * "classes"). Averaged over the batch, like the other losses:
 *
 *   L = lambda/B sum_i sum_d (vNew[i, d] - vOld[i, d])^2
 *
 * `vOld` is the bank row v_i^{t-1}; pass the bank's tensor (a constant) so only vNew receives
 * gradients. The authors' released code omits this term; contrastream offers it. lambda >= 0
 * is required (no default: the paper studies several values); lambda = 0 gives 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNonNegative, checkSameShape, checkTensor } from '../internal/lossSupport.ts';

/** lambda * mean_i ||vNew_i - vOld_i||^2. Scalar, caller disposes. */
export function proximalLoss(
  vNew: tf.Tensor2D, // [B, D] v_i^t, current features
  vOld: tf.Tensor2D, // [B, D] v_i^{t-1}, memory-bank rows of the same instances
  lambda: number,
): tf.Scalar {
  const fn = 'proximalLoss';
  checkTensor(fn, 'vNew', vNew, 2);
  checkTensor(fn, 'vOld', vOld, 2);
  checkSameShape(fn, 'vNew', vNew, 'vOld', vOld);
  const lam = checkNonNegative(fn, 'lambda', lambda);
  return tf.tidy(() => tf.mul(lam, tf.mean(tf.sum(tf.squaredDifference(vNew, vOld), 1))) as tf.Scalar);
}
