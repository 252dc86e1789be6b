/**
 * InfoNCE as used by MoCo (He, Fan, Wu, Xie, Girshick 2019, "Momentum Contrast for Unsupervised
 * Visual Representation Learning", Eq. 1; Chen, Fan, Girshick, He 2020 for v2), from the
 * InfoNCE of van den Oord et al. 2018.
 *
 * For query q_i, its positive key k_i+ and K negative keys k_j (the queue):
 *
 *   l_i = -log( exp(q_i.k_i+/tau) / ( exp(q_i.k_i+/tau) + sum_{j=1}^{K} exp(q_i.k_j/tau) ) )
 *       = logsumexp( [q_i.k_i+, q_i.k_1, ..., q_i.k_K] / tau ) - q_i.k_i+/tau
 *   L   = 1/N sum_i l_i
 *
 * i.e. a (K+1)-way softmax cross-entropy whose correct class is the positive (column 0).
 * With unit q, k+ at similarity s and K negatives orthogonal to q: L = log(1 + K exp(-s/tau)).
 *
 * Defaults: temperature 0.07 (MoCo v1; v2 uses 0.2), normalize true (MoCo's encoders end with an
 * L2 normalisation; normalising again is a no-op on unit vectors). Negatives are the queue
 * [K, D] shared by every query, or [N, K, D] when each query has its own (InstDisc/CMC draws).
 * Negatives are treated as constants only by convention: gradients flow into whatever tensors
 * you pass, so pass the queue's keys (which are not variables) as MoCo does.
 *
 * `infoNceLossFromLogits` is the same cross-entropy for logits you built yourself (already
 * divided by the temperature), the positive in column `positiveIndex` (default 0, as MoCo).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import {
  checkBoolean,
  checkNegatives,
  checkPositiveIndex,
  checkSameShape,
  checkTemperature,
  checkTensor,
  l2NormalizeRows,
  negativeDots,
  softmaxCrossEntropy,
} from '../internal/lossSupport.ts';

export interface InfoNceConfig {
  /** tau in q.k/tau. Default 0.07 (MoCo v1; use 0.2 for MoCo v2). Must be > 0. */
  temperature?: number;
  /** L2-normalise query, keys and negatives first. Default true. */
  normalize?: boolean;
}

export const DEFAULT_INFO_NCE_CONFIG = { temperature: 0.07, normalize: true } as const;

/** MoCo's InfoNCE of `query` against its `positiveKey` and the `negatives`. Scalar, caller disposes. */
export function infoNceLoss(
  query: tf.Tensor2D, // [N, D]
  positiveKey: tf.Tensor2D, // [N, D], row i is the positive of query row i
  negatives: tf.Tensor2D | tf.Tensor3D, // [K, D] shared queue, or [N, K, D] per query
  config: InfoNceConfig = {},
): tf.Scalar {
  const fn = 'infoNceLoss';
  checkTensor(fn, 'query', query, 2);
  checkTensor(fn, 'positiveKey', positiveKey, 2);
  checkSameShape(fn, 'query', query, 'positiveKey', positiveKey);
  const [n, d] = query.shape;
  checkNegatives(fn, 'negatives', negatives, n, d);
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const tau = checkTemperature(fn, 'config.temperature', config.temperature ?? DEFAULT_INFO_NCE_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', config.normalize, DEFAULT_INFO_NCE_CONFIG.normalize);
  return tf.tidy(() => {
    const q = normalize ? l2NormalizeRows(query) : query; // [N, D]
    const kPos = normalize ? l2NormalizeRows(positiveKey) : positiveKey; // [N, D]
    const kNeg = normalize ? l2NormalizeRows(negatives) : negatives; // [K, D] or [N, K, D]
    const lPos = tf.sum(tf.mul(q, kPos), 1, true); // [N, 1]
    const lNeg = negativeDots(q, kNeg); // [N, K]
    const logits = tf.div(tf.concat([lPos, lNeg], 1), tau) as tf.Tensor2D; // [N, 1 + K]
    return softmaxCrossEntropy(logits, 0);
  });
}

export interface InfoNceFromLogitsConfig {
  /** Column of the positive: one index for all rows or one per row. Default 0 (MoCo's layout). */
  positiveIndex?: number | ArrayLike<number>;
}

/**
 * InfoNCE / softmax cross-entropy of precomputed logits (similarities already divided by the
 * temperature): mean_i [ logsumexp_j logits[i, j] - logits[i, positiveIndex_i] ].
 */
export function infoNceLossFromLogits(
  logits: tf.Tensor2D, // [N, C], C = 1 + K
  config: InfoNceFromLogitsConfig = {},
): tf.Scalar {
  const fn = 'infoNceLossFromLogits';
  checkTensor(fn, 'logits', logits, 2);
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const [n, c] = logits.shape;
  const pos = checkPositiveIndex(fn, 'config.positiveIndex', config.positiveIndex ?? 0, n, c);
  return tf.tidy(() => softmaxCrossEntropy(logits, typeof pos === 'number' ? pos : tf.tensor1d(pos, 'int32')));
}
