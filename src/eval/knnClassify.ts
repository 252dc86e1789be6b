/**
 * Weighted k-nearest-neighbour classification on frozen features, the monitor used by
 * InstDisc (Wu et al. 2018, Sec. 3.4) and most self-supervised papers since:
 *
 *   s_i   = cos(f_test, f_train_i)                       for the k most similar train rows
 *   w_i   = exp(s_i / tau)
 *   score_c = sum_{i in top-k, y_i = c} w_i,             prediction = argmax_c score_c
 *
 * Defaults: k = 200, tau = 0.1, cosine similarity (features are L2-normalised here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

export interface KnnConfig {
  /** Neighbours that vote. Default 200 (capped at the number of train rows). */
  k?: number;
  /** Temperature of the vote weights exp(s / tau). Default 0.1. */
  temperature?: number;
  /** Number of classes; default max(label) + 1. */
  numClasses?: number;
  /** Test rows per similarity block (bounds memory: block x N floats). Default 256. */
  blockSize?: number;
}

export const DEFAULT_KNN_CONFIG = { k: 200, temperature: 0.1, blockSize: 256 } as const;

export interface KnnResult {
  /** Top-1 accuracy in [0, 1]. */
  top1: number;
  /** Predicted class of every test row. */
  predictions: Int32Array;
}

function rowNormalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}

/**
 * Classifies every row of `testFeatures` by a weighted vote of its k nearest rows of
 * `trainFeatures` (cosine). Labels are integer class ids. Disposes everything it makes.
 */
export function knnClassify(
  trainFeatures: tf.Tensor2D, // [N, D]
  trainLabels: ArrayLike<number>, // [N]
  testFeatures: tf.Tensor2D, // [M, D]
  testLabels: ArrayLike<number>, // [M]
  config: KnnConfig = {},
): KnnResult {
  const fn = 'knnClassify';
  const [n, d] = trainFeatures.shape;
  const [m, d2] = testFeatures.shape;
  if (trainFeatures.rank !== 2) throw new ArgumentError(fn, 'trainFeatures', `must be rank 2, got [${trainFeatures.shape}]`);
  if (testFeatures.rank !== 2) throw new ArgumentError(fn, 'testFeatures', `must be rank 2, got [${testFeatures.shape}]`);
  if (d !== d2) throw new ArgumentError(fn, 'testFeatures', `has ${d2} columns but trainFeatures has ${d}`);
  if (trainLabels.length !== n) throw new ArgumentError(fn, 'trainLabels', `has ${trainLabels.length} entries for ${n} rows`);
  if (testLabels.length !== m) throw new ArgumentError(fn, 'testLabels', `has ${testLabels.length} entries for ${m} rows`);
  if (n === 0) throw new ArgumentError(fn, 'trainFeatures', 'is empty');
  const k = Math.min(config.k ?? DEFAULT_KNN_CONFIG.k, n);
  const tau = config.temperature ?? DEFAULT_KNN_CONFIG.temperature;
  const block = config.blockSize ?? DEFAULT_KNN_CONFIG.blockSize;
  if (!(k >= 1)) throw new ArgumentError(fn, 'config.k', `must be >= 1, got ${config.k}`);
  if (!(tau > 0)) throw new ArgumentError(fn, 'config.temperature', `must be > 0, got ${tau}`);
  let numClasses = config.numClasses ?? 0;
  if (config.numClasses === undefined) for (let i = 0; i < n; i++) numClasses = Math.max(numClasses, trainLabels[i] + 1);

  // Transposed once: the wasm backend's fast (XNNPACK) matmul takes no transpose flags.
  const train = tf.tidy(() => tf.transpose(rowNormalize(trainFeatures))) as tf.Tensor2D; // [D, N]
  const predictions = new Int32Array(m);
  let correct = 0;
  const scores = new Float64Array(numClasses);
  try {
    for (let start = 0; start < m; start += block) {
      const size = Math.min(block, m - start);
      const [values, indices] = tf.tidy(() => {
        const q = rowNormalize(tf.slice(testFeatures, [start, 0], [size, d]) as tf.Tensor2D); // [b, D]
        const sim = tf.matMul(q, train); // [b, N]
        const { values, indices } = tf.topk(sim, k); // [b, k]
        return [values, indices];
      });
      const v = values.dataSync();
      const idx = indices.dataSync();
      values.dispose();
      indices.dispose();
      for (let r = 0; r < size; r++) {
        scores.fill(0);
        for (let j = 0; j < k; j++) {
          scores[trainLabels[idx[r * k + j]]] += Math.exp(v[r * k + j] / tau);
        }
        let best = 0;
        for (let c = 1; c < numClasses; c++) if (scores[c] > scores[best]) best = c;
        predictions[start + r] = best;
        if (best === testLabels[start + r]) correct++;
      }
    }
  } finally {
    train.dispose();
  }
  return { top1: m === 0 ? 0 : correct / m, predictions };
}
