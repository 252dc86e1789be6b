/**
 * NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR
 * (Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of
 * Visual Representations", Eq. 1).
 *
 * The two views of N images give 2N embeddings z_1..z_2N; view k of image i is row i of z1 and
 * row N+i of z2, so the positive of a is p(a) = (a + N) mod 2N. With sim(u, v) = u.v/(|u||v|):
 *
 *   l(a) = -log( exp(sim(z_a, z_p(a))/tau) / sum_{k != a} exp(sim(z_a, z_k)/tau) )
 *        = logsumexp_{k != a}( sim(z_a, z_k)/tau ) - sim(z_a, z_p(a))/tau
 *   L    = 1/(2N) sum_{a=1}^{2N} l(a)
 *
 * The self-similarity k = a is removed from the denominator (it is not a negative), leaving the
 * positive and 2(N-1) negatives per anchor. Computed in log-sum-exp form, so it is finite for
 * any tau > 0 (tested at tau = 0.01). If all 2N embeddings are equal, L = log(2N - 1).
 *
 * Defaults: temperature 0.5 (the paper's CIFAR-10 setting; its ImageNet runs use 0.1 with very
 * large batches), normalize true (cosine similarity, as the paper). With `normalize: false` the
 * similarity is the plain dot product, for inputs you have already normalised.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { checkBoolean, checkSameShape, checkTemperature, checkTensor, l2NormalizeRows, MASKED_LOGIT } from '../internal/lossSupport.ts';

export interface NtXentConfig {
  /** tau in sim/tau. Default 0.5. Must be > 0. */
  temperature?: number;
  /** L2-normalise the rows first (cosine similarity). Default true. */
  normalize?: boolean;
}

export const DEFAULT_NT_XENT_CONFIG = { temperature: 0.5, normalize: true } as const;

/**
 * SimCLR's NT-Xent over the 2N views `z1` (first view of each image) and `z2` (second view).
 * Returns a scalar the caller disposes; every intermediate tensor is disposed.
 */
export function ntXentLoss(
  z1: tf.Tensor2D, // [N, D] view 1
  z2: tf.Tensor2D, // [N, D] view 2, row i is the positive of row i of z1
  config: NtXentConfig = {},
): tf.Scalar {
  const fn = 'ntXentLoss';
  checkTensor(fn, 'z1', z1, 2);
  checkTensor(fn, 'z2', z2, 2);
  checkSameShape(fn, 'z1', z1, 'z2', z2);
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const tau = checkTemperature(fn, 'config.temperature', config.temperature ?? DEFAULT_NT_XENT_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', config.normalize, DEFAULT_NT_XENT_CONFIG.normalize);
  const n = z1.shape[0];
  return tf.tidy(() => {
    const a = normalize ? l2NormalizeRows(z1) : z1; // [N, D]
    const b = normalize ? l2NormalizeRows(z2) : z2; // [N, D]
    const z = tf.concat([a, b], 0); // [2N, D]
    const partner = tf.concat([b, a], 0); // [2N, D], row a holds z_p(a)
    const logits = tf.div(tf.matMul(z, z, false, true), tau); // [2N, 2N]
    const self = tf.cast(tf.eye(2 * n), 'bool'); // [2N, 2N]
    const masked = tf.where(self, tf.scalar(MASKED_LOGIT), logits); // [2N, 2N], diagonal excluded
    const lse = tf.logSumExp(masked, 1); // [2N]
    const pos = tf.div(tf.sum(tf.mul(z, partner), 1), tau); // [2N]
    return tf.mean(tf.sub(lse, pos)) as tf.Scalar;
  });
}
