/**
 * The NCE loss of InstDisc (Wu, Xiong, Yu, Lin 2018, "Unsupervised Feature Learning via
 * Non-Parametric Instance Discrimination", Sec. 3.2 "Noise-Contrastive Estimation").
 *
 * v = f(x_i) is the current feature of instance i, f_j are memory-bank rows. The non-parametric
 * softmax P(j|v) = exp(v.f_j/tau) / Z is approximated by noise-contrastive estimation with K noise
 * samples from the uniform noise distribution P_n = 1/n (n = dataset size):
 *
 *   h(j, v) = P(j|v) / (P(j|v) + K P_n) = sigmoid( v.f_j/tau - log(K P_n Z) )
 *   L = -1/B sum_{i in batch} [ log h(i, v_i) + sum_{j=1}^{K} log(1 - h(j', v_i)) ]
 *
 * where f_i (the positive) is the bank row of instance i and j' the K rows drawn as noise. This is
 * the form of the authors' released code (noise similarities measured against the same v_i).
 * Written with log-sigmoid, so it is finite for any similarity and tau > 0:
 *   log h = logSigmoid(s/tau - c),  log(1 - h) = logSigmoid(-(s/tau - c)),  c = log(K Z / n).
 *
 * Z is not learned and not computed here: the paper estimates it once, from the first batch, as
 * Z ~ n mean_j exp(v.f_j/tau), and keeps it fixed. `estimateNceNormalizer` computes that
 * estimate (a pure function); keep its result and pass it as `normalizer` on every step.
 *
 * Defaults: temperature 0.07, normalize true (InstDisc features and bank rows are unit vectors).
 * The paper draws K = 4096 negatives per instance; `negatives` may be per instance [B, K, D] or
 * one draw shared by the batch [K, D] (each row still a uniform draw; far cheaper). K is taken
 * from the shape of `negatives`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import {
  checkBoolean,
  checkInteger,
  checkNegatives,
  checkSameShape,
  checkTemperature,
  checkTensor,
  l2NormalizeRows,
  logSigmoid,
  negativeDots,
} from '../internal/lossSupport.ts';

export interface NceConfig {
  /** Z, from `estimateNceNormalizer` on the first batch. Required, finite, > 0. */
  normalizer: number;
  /** n, the number of instances (memory-bank rows); the noise is P_n = 1/n. Required. */
  datasetSize: number;
  /** tau in v.f/tau. Default 0.07. Must be > 0. */
  temperature?: number;
  /** L2-normalise features, positives and negatives first. Default true. */
  normalize?: boolean;
}

export const DEFAULT_NCE_CONFIG = { temperature: 0.07, normalize: true } as const;

export type NceNormalizerConfig = Omit<NceConfig, 'normalizer'>;

function checkCommon(fn: string, features: unknown, positives: unknown, negatives: unknown, config: unknown) {
  checkTensor(fn, 'features', features, 2);
  checkTensor(fn, 'positives', positives, 2);
  checkSameShape(fn, 'features', features, 'positives', positives);
  const [n, d] = features.shape;
  checkNegatives(fn, 'negatives', negatives, n, d);
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const c = config as Partial<NceConfig>;
  const tau = checkTemperature(fn, 'config.temperature', c.temperature ?? DEFAULT_NCE_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', c.normalize, DEFAULT_NCE_CONFIG.normalize);
  const datasetSize = checkInteger(fn, 'config.datasetSize', c.datasetSize, 1);
  return { tau, normalize, datasetSize };
}

/** Similarity logits /tau of the positives [B] and the negatives [B, K]. */
function nceLogits(
  features: tf.Tensor2D,
  positives: tf.Tensor2D,
  negatives: tf.Tensor2D | tf.Tensor3D,
  tau: number,
  normalize: boolean,
): [tf.Tensor1D, tf.Tensor2D] {
  return tf.tidy(() => {
    const v = normalize ? l2NormalizeRows(features) : features; // [B, D]
    const fPos = normalize ? l2NormalizeRows(positives) : positives; // [B, D]
    const fNeg = normalize ? l2NormalizeRows(negatives) : negatives; // [K, D] or [B, K, D]
    const sPos = tf.div(tf.sum(tf.mul(v, fPos), 1), tau) as tf.Tensor1D; // [B]
    const sNeg = tf.div(negativeDots(v, fNeg), tau) as tf.Tensor2D; // [B, K]
    return [sPos, sNeg];
  });
}

/** InstDisc's NCE loss. Scalar, caller disposes. */
export function nceLoss(
  features: tf.Tensor2D, // [B, D] current features v_i
  positives: tf.Tensor2D, // [B, D] bank rows f_i of the same instances
  negatives: tf.Tensor2D | tf.Tensor3D, // [K, D] shared noise rows, or [B, K, D] per instance
  config: NceConfig,
): tf.Scalar {
  const fn = 'nceLoss';
  const { tau, normalize, datasetSize } = checkCommon(fn, features, positives, negatives, config);
  const z = config.normalizer;
  if (typeof z !== 'number' || !Number.isFinite(z) || !(z > 0)) {
    throw new ArgumentError(fn, 'config.normalizer', `must be a finite number > 0 (Z from estimateNceNormalizer), got ${String(z)}`);
  }
  const k = negatives.rank === 2 ? negatives.shape[0] : negatives.shape[1];
  const c = Math.log(k) + Math.log(z) - Math.log(datasetSize); // log(K * P_n * Z), float64
  return tf.tidy(() => {
    const [sPos, sNeg] = nceLogits(features, positives, negatives, tau, normalize); // [B], [B, K]
    const logH = logSigmoid(tf.sub(sPos, c)); // [B]      log h(i, v_i)
    const log1mH = logSigmoid(tf.sub(c, sNeg)); // [B, K] log(1 - h(j', v_i))
    return tf.neg(tf.mean(tf.add(logH, tf.sum(log1mH, 1)))) as tf.Scalar;
  });
}

/**
 * The paper's one-off Monte-Carlo estimate of the partition function, from the first batch:
 *   Z = n * mean over the B(K+1) pairs of exp(v_i.f/tau)   (positives and noise rows alike,
 * as the released code). Computed as exp(log n + logsumexp - log(B(K+1))) in float64, so it does
 * not overflow float32 at small tau. Returns a plain number; pass it to `nceLoss` unchanged.
 */
export function estimateNceNormalizer(
  features: tf.Tensor2D, // [B, D]
  positives: tf.Tensor2D, // [B, D]
  negatives: tf.Tensor2D | tf.Tensor3D, // [K, D] or [B, K, D]
  config: NceNormalizerConfig,
): number {
  const fn = 'estimateNceNormalizer';
  const { tau, normalize, datasetSize } = checkCommon(fn, features, positives, negatives, config);
  const lse = tf.tidy(() => {
    const [sPos, sNeg] = nceLogits(features, positives, negatives, tau, normalize);
    return tf.logSumExp(tf.concat([tf.reshape(sPos, [-1]), tf.reshape(sNeg, [-1])], 0));
  });
  const count = features.shape[0] * (1 + (negatives.rank === 2 ? negatives.shape[0] : negatives.shape[1]));
  const value = lse.dataSync()[0];
  lse.dispose();
  const z = Math.exp(Math.log(datasetSize) + value - Math.log(count));
  if (!Number.isFinite(z) || !(z > 0)) {
    throw new ArgumentError(fn, 'config.temperature', `gives a normaliser Z = ${z} that is not representable; raise the temperature or check the inputs for NaN`);
  }
  return z;
}
