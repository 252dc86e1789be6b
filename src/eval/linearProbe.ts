/**
 * Linear probe: multinomial logistic regression on frozen features, the second standard
 * evaluation of self-supervised encoders (InstDisc Sec. 4.1, MoCo Sec. 4.1, SimCLR Sec. 4):
 *
 *   x̂      = (x - μ) / σ                      per feature, μ, σ from the train rows
 *   p(c|x) = softmax(x̂ W + b)_c               W [D, C], b [C]
 *   L      = -1/N Σ_i log p(y_i | x_i) + λ/2 ||W||²
 *   ∇W     = x̂ᵀ (P - Y) / N + λ W,   ∇b = 1ᵀ (P - Y) / N
 *
 * trained with mini-batch Adam (Kingma & Ba 2015) on tfjs, the gradients written out above
 * (no autodiff, so it runs on every backend without gradient registration). Reports train and
 * test top-1. Defaults: 100 epochs, batch 256, lr 0.01 with cosine decay, λ = 1e-4, seed 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Rng } from '../internal/prng.ts';

export interface LinearProbeConfig {
  /** Passes over the train rows. Default 100. */
  epochs?: number;
  /** Rows per Adam step. Default 256. */
  batchSize?: number;
  /** Adam step size (cosine-decayed to 0 over the run). Default 0.01. */
  lr?: number;
  /** L2 penalty λ on W. Default 1e-4. */
  weightDecay?: number;
  /** Number of classes; default max(label) + 1. */
  numClasses?: number;
  /** Shuffle seed. Default 0. */
  seed?: number;
  /** Called after every epoch with (epoch, mean train loss). */
  onEpoch?: (epoch: number, loss: number) => void;
}

export const DEFAULT_LINEAR_PROBE_CONFIG = { epochs: 100, batchSize: 256, lr: 0.01, weightDecay: 1e-4, seed: 0 } as const;

export interface LinearProbeResult {
  /** Top-1 accuracy on the test rows, in [0, 1]. */
  top1: number;
  /** Top-1 accuracy on the train rows. */
  trainTop1: number;
  /** Mean cross-entropy of the last epoch. */
  finalLoss: number;
  /** Predicted class of every test row. */
  predictions: Int32Array;
}

/**
 * Loss and gradients of softmax regression for one batch (the formulas above). Returns
 * tensors the caller disposes: loss [], dW [D, C], db [C].
 */
export function softmaxRegressionGradients(
  x: tf.Tensor2D, // [B, D] standardised
  yOneHot: tf.Tensor2D, // [B, C]
  w: tf.Tensor2D, // [D, C]
  b: tf.Tensor1D, // [C]
  weightDecay: number,
): { loss: tf.Scalar; dW: tf.Tensor2D; db: tf.Tensor1D } {
  return tf.tidy(() => {
    const n = x.shape[0];
    const logits = tf.add(tf.matMul(x, w), b); // [B, C]
    const logp = tf.logSoftmax(logits); // [B, C]
    const nll = tf.neg(tf.div(tf.sum(tf.mul(yOneHot, logp)), n));
    const loss = tf.add(nll, tf.mul(weightDecay / 2, tf.sum(tf.square(w)))) as tf.Scalar;
    const diff = tf.div(tf.sub(tf.exp(logp), yOneHot), n); // [B, C]
    const dW = tf.add(tf.matMul(x, diff, true, false), tf.mul(weightDecay, w)) as tf.Tensor2D; // [D, C]
    const db = tf.sum(diff, 0) as tf.Tensor1D; // [C]
    return { loss, dW, db };
  });
}

function checkFeatures(fn: string, name: string, f: tf.Tensor2D, labels: ArrayLike<number>, labelName: string): void {
  if (f.rank !== 2) throw new ArgumentError(fn, name, `must be rank 2 [N, D], got shape [${f.shape}]`);
  if (labels.length !== f.shape[0]) throw new ArgumentError(fn, labelName, `has ${labels.length} entries for ${f.shape[0]} rows`);
  for (let i = 0; i < labels.length; i++) {
    if (!(Number.isInteger(labels[i]) && labels[i] >= 0)) throw new ArgumentError(fn, labelName, `must hold class ids >= 0; entry ${i} is ${labels[i]}`);
  }
}

function accuracy(logits: tf.Tensor2D, labels: ArrayLike<number>): { top1: number; predictions: Int32Array } {
  const pred = tf.tidy(() => tf.argMax(logits, 1));
  const predictions = Int32Array.from(pred.dataSync());
  pred.dispose();
  let correct = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === labels[i]) correct++;
  return { top1: predictions.length === 0 ? 0 : correct / predictions.length, predictions };
}

/**
 * Trains a linear classifier on `trainFeatures` and reports top-1 on `testFeatures`.
 * The features are not changed; everything made here is disposed before returning.
 */
export function linearProbe(
  trainFeatures: tf.Tensor2D, // [N, D]
  trainLabels: ArrayLike<number>, // [N]
  testFeatures: tf.Tensor2D, // [M, D]
  testLabels: ArrayLike<number>, // [M]
  config: LinearProbeConfig = {},
): LinearProbeResult {
  const fn = 'linearProbe';
  checkFeatures(fn, 'trainFeatures', trainFeatures, trainLabels, 'trainLabels');
  checkFeatures(fn, 'testFeatures', testFeatures, testLabels, 'testLabels');
  const [n, d] = trainFeatures.shape;
  if (n === 0) throw new ArgumentError(fn, 'trainFeatures', 'is empty; the probe needs labelled train rows');
  if (testFeatures.shape[1] !== d) throw new ArgumentError(fn, 'testFeatures', `has ${testFeatures.shape[1]} columns but trainFeatures has ${d}`);
  const epochs = config.epochs ?? DEFAULT_LINEAR_PROBE_CONFIG.epochs;
  const batchSize = Math.min(config.batchSize ?? DEFAULT_LINEAR_PROBE_CONFIG.batchSize, n);
  const lr = config.lr ?? DEFAULT_LINEAR_PROBE_CONFIG.lr;
  const weightDecay = config.weightDecay ?? DEFAULT_LINEAR_PROBE_CONFIG.weightDecay;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new ArgumentError(fn, 'config.epochs', `must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new ArgumentError(fn, 'config.batchSize', `must be a positive integer, got ${config.batchSize}`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new ArgumentError(fn, 'config.lr', `must be > 0, got ${lr}`);
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) throw new ArgumentError(fn, 'config.weightDecay', `must be >= 0, got ${weightDecay}`);
  let numClasses = config.numClasses ?? 0;
  if (config.numClasses === undefined) for (let i = 0; i < n; i++) numClasses = Math.max(numClasses, trainLabels[i] + 1);
  for (let i = 0; i < n; i++) {
    if (trainLabels[i] >= numClasses) throw new ArgumentError(fn, 'trainLabels', `entry ${i} is ${trainLabels[i]}, not below numClasses ${numClasses}`);
  }
  const c = Math.max(numClasses, 2);

  // Standardisation from the train rows.
  const { mean, std } = tf.tidy(() => {
    const m = tf.moments(trainFeatures, 0); // [D] each
    return { mean: m.mean, std: tf.maximum(tf.sqrt(m.variance), 1e-6) };
  });
  const standardize = (x: tf.Tensor2D) => tf.tidy(() => tf.div(tf.sub(x, mean), std) as tf.Tensor2D);
  const xTrain = standardize(trainFeatures); // [N, D]
  const yTrain = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(trainLabels), 'int32'), c), 'float32') as tf.Tensor2D); // [N, C]
  let w = tf.zeros([d, c]) as tf.Tensor2D;
  let b = tf.zeros([c]) as tf.Tensor1D;
  // Adam moments.
  let mW: tf.Tensor = tf.zerosLike(w); // [D, C]
  let vW: tf.Tensor = tf.zerosLike(w);
  let mB: tf.Tensor = tf.zerosLike(b); // [C]
  let vB: tf.Tensor = tf.zerosLike(b);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const rng = new Rng(config.seed ?? DEFAULT_LINEAR_PROBE_CONFIG.seed, 0x4c50_524f, n, 0);
  const stepsPerEpoch = Math.ceil(n / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  let t = 0;
  let finalLoss = NaN;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.permutation(n);
      let lossSum = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const idx = order.subarray(s * batchSize, Math.min(n, (s + 1) * batchSize));
        const stepLr = 0.5 * lr * (1 + Math.cos((Math.PI * t) / totalSteps));
        t++;
        const next = tf.tidy(() => {
          const ids = tf.tensor1d(Int32Array.from(idx), 'int32');
          const { loss, dW, db } = softmaxRegressionGradients(tf.gather(xTrain, ids), tf.gather(yTrain, ids), w, b, weightDecay);
          const adam = (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => {
            const m2 = tf.add(tf.mul(beta1, m), tf.mul(1 - beta1, g));
            const v2 = tf.add(tf.mul(beta2, v), tf.mul(1 - beta2, tf.square(g)));
            const mHat = tf.div(m2, 1 - beta1 ** t);
            const vHat = tf.div(v2, 1 - beta2 ** t);
            return [tf.sub(p, tf.mul(stepLr, tf.div(mHat, tf.add(tf.sqrt(vHat), eps)))), m2, v2];
          };
          const [w2, mW2, vW2] = adam(w, dW, mW, vW);
          const [b2, mB2, vB2] = adam(b, db, mB, vB);
          return { loss, w2, mW2, vW2, b2, mB2, vB2 };
        });
        tf.dispose([w, mW, vW, b, mB, vB]);
        w = next.w2 as tf.Tensor2D;
        mW = next.mW2;
        vW = next.vW2;
        b = next.b2 as tf.Tensor1D;
        mB = next.mB2;
        vB = next.vB2;
        lossSum += next.loss.dataSync()[0] * idx.length;
        next.loss.dispose();
      }
      finalLoss = lossSum / n;
      config.onEpoch?.(epoch, finalLoss);
    }
    const trainLogits = tf.tidy(() => tf.add(tf.matMul(xTrain, w), b) as tf.Tensor2D);
    const trainAcc = accuracy(trainLogits, trainLabels);
    trainLogits.dispose();
    const testLogits = tf.tidy(() => tf.add(tf.matMul(standardize(testFeatures), w), b) as tf.Tensor2D);
    const testAcc = accuracy(testLogits, testLabels);
    testLogits.dispose();
    return { top1: testAcc.top1, trainTop1: trainAcc.top1, finalLoss, predictions: testAcc.predictions };
  } finally {
    tf.dispose([mean, std, xTrain, yTrain, w, b, mW, vW, mB, vB]);
  }
}
