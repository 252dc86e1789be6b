/**
 * The instance loss of InvaSpread (Ye, Zhang, Yuen, Chang 2019, "Unsupervised Embedding Learning
 * via Invariant and Spreading Instance Feature", Sec. 3).
 *
 * The paper's form: with m instances, features f_i and the feature f^_i of an augmentation of
 * x_i, a non-parametric softmax over the instance features
 *   P(i | x^_i) = exp(f_i.f^_i/tau) / sum_k exp(f_k.f^_i/tau)            (positive)
 *   P(i | x_j)  = exp(f_i.f_j/tau)  / sum_k exp(f_k.f_j/tau),  j != i
 * and, assuming the events independent, the negative log-likelihood
 *   J = - sum_i log P(i | x^_i) - sum_i sum_{j != i} log(1 - P(i | x_j)).
 *
 * What is implemented, exactly: the symmetric batch form the authors train with (their released
 * BatchCriterion, negM = 1). The 2B embeddings z = [z1; z2] (two augmentations of B images; row
 * i of z1 and row i of z2 are the same image, p(a) = (a + B) mod 2B) all play both roles. For
 * every anchor a the softmax runs over the 2B - 1 other embeddings (itself excluded):
 *   P(k | a) = exp(s_ak/tau) / sum_{j != a} exp(s_aj/tau),      s_ak = cos(z_a, z_k)
 * the positive is the other augmentation p(a), the 2(B-1) embeddings of the other images are the
 * negatives, and
 *   L = -1/(2B) sum_a [ log P(p(a) | a) + sum_{k not in {a, p(a)}} log(1 - P(k | a)) ].
 * (The paper's J is the one-directional version whose candidates are the B original
 * features; this form uses both augmentations in both directions, hence 2(B-1) negatives.)
 *
 * Numerics: log P is logits minus a log-sum-exp. log(1 - P(k|a)) is computed without forming
 * 1 - P: for every k except the row's most similar candidate k*, P(k|a) <= 1/2 and
 * log1p(-exp(log P)) is accurate; for k* it is computed exactly as
 * logsumexp_{j not in {a, k*}} s_aj/tau - logsumexp_{j != a} s_aj/tau. So the loss stays finite
 * even when a negative takes almost all of the mass (tested at tau = 0.01).
 *
 * Defaults: temperature 0.1 (the paper), normalize true (the paper L2-normalises features).
 * Needs B >= 2 (with one image there are no negatives).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { checkBoolean, checkSameShape, checkTemperature, checkTensor, describeShape, indexMask, l2NormalizeRows, MASKED_LOGIT } from '../internal/lossSupport.ts';

export interface InvaSpreadConfig {
  /** tau in s/tau. Default 0.1. Must be > 0. */
  temperature?: number;
  /** L2-normalise the rows first (cosine similarity). Default true. */
  normalize?: boolean;
}

export const DEFAULT_INVA_SPREAD_CONFIG = { temperature: 0.1, normalize: true } as const;

/** InvaSpread's loss over two augmentations `z1`, `z2` of the same B images. Scalar, caller disposes. */
export function invaSpreadLoss(
  z1: tf.Tensor2D, // [B, D] first augmentation
  z2: tf.Tensor2D, // [B, D] second augmentation, row i is the positive of row i of z1
  config: InvaSpreadConfig = {},
): tf.Scalar {
  const fn = 'invaSpreadLoss';
  checkTensor(fn, 'z1', z1, 2);
  checkTensor(fn, 'z2', z2, 2);
  checkSameShape(fn, 'z1', z1, 'z2', z2);
  if (z1.shape[0] < 2) throw new ArgumentError(fn, 'z1', `needs at least 2 rows (images) to have negatives, got ${describeShape(z1)}`);
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const tau = checkTemperature(fn, 'config.temperature', config.temperature ?? DEFAULT_INVA_SPREAD_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', config.normalize, DEFAULT_INVA_SPREAD_CONFIG.normalize);
  const b = z1.shape[0];
  const m = 2 * b;
  return tf.tidy(() => {
    const u = normalize ? l2NormalizeRows(z1) : z1; // [B, D]
    const v = normalize ? l2NormalizeRows(z2) : z2; // [B, D]
    const z = tf.concat([u, v], 0); // [2B, D]
    const partner = tf.concat([v, u], 0); // [2B, D], row a holds z_p(a)
    const logits = tf.div(tf.matMul(z, z, false, true), tau); // [2B, 2B]
    const masked = tf.scalar(MASKED_LOGIT);
    const self = tf.cast(tf.eye(m), 'bool'); // [2B, 2B]
    const candidates = tf.where(self, masked, logits); // [2B, 2B], self excluded
    const lse = tf.logSumExp(candidates, 1, true); // [2B, 1]  log sum_{j != a} exp(s_aj/tau)
    const logPPos = tf.sub(tf.div(tf.sum(tf.mul(z, partner), 1, true), tau), lse); // [2B, 1]

    // log(1 - P(k|a)) for every k, in two exact branches (see the header).
    const logP = tf.sub(candidates, lse); // [2B, 2B]
    // oneHot, not an equality mask: tfjs has a (zero) gradient for OneHot but none for Equal.
    const top = tf.cast(tf.oneHot(tf.argMax(candidates, 1) as tf.Tensor1D, m), 'bool'); // [2B, 2B], k* of each row
    const lseWithoutTop = tf.logSumExp(tf.where(top, masked, candidates), 1, true); // [2B, 1]
    const log1mPTop = tf.sub(lseWithoutTop, lse); // [2B, 1]
    // Feed the generic branch a harmless value at k*, so its (unused) gradient there is finite.
    const safeLogP = tf.where(top, tf.scalar(-1), logP); // [2B, 2B], all <= log(1/2) off k*
    const log1mPRest = tf.log1p(tf.neg(tf.exp(safeLogP))); // [2B, 2B]
    const log1mP = tf.where(top, log1mPTop, log1mPRest); // [2B, 2B]

    const positive = indexMask(tf.tensor1d(Int32Array.from({ length: m }, (_, a) => (a + b) % m), 'int32'), m); // [2B, 2B]
    const negative = tf.logicalNot(tf.logicalOr(self, positive)); // [2B, 2B], 2(B-1) per row
    const negTerm = tf.sum(tf.where(negative, log1mP, tf.zerosLike(log1mP)), 1, true); // [2B, 1]
    return tf.neg(tf.mean(tf.add(logPPos, negTerm))) as tf.Scalar;
  });
}
