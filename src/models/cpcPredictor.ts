/**
 * CPC's prediction heads (van den Oord et al. 2018, Sec. 2.2, Eq. 3): one linear map W_k per
 * offset k, predicting from the context c_t the encoding k steps ahead,
 *
 *   zhat_{t+k} = W_k c_t        and the score f_k(x_{t+k}, c_t) = exp(z_{t+k}^T W_k c_t).
 *
 * `predictAhead(c, z)` lines predictions up with their targets along axis 1 (grid rows for
 * images, time for frame sequences): for offset k, the positions (n, t, w) with t + k < T,
 *
 *   predictions_k = c[:, 0 .. T-k-1, :, :] W_k  -> [N (T-k) W, D]
 *   targets_k     = z[:, k .. T-1,   :, :]      -> [N (T-k) W, D]
 *
 * which is the input `cpcInfoNceLoss` takes (W_k is applied only where a target exists).
 * Nothing here knows whether axis 1 is space or time. `forward(c)` applies every W_k at every
 * position: c [N, T, W, Dc] -> [N, T, W, S D] (block s = W_{offsets[s]} c).
 *
 * W_k have no bias (the paper's log-bilinear score). Init: PyTorch's nn.Linear default.
 * Parameters are named `w<k>` ('w2.weight' for offset 2).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { Linear } from './linear.ts';
import { SeededRandom } from './init.ts';

export interface CpcPredictorConfig {
  /** Width of the context c. */
  contextDim: number;
  /** Width of the encodings z to predict. */
  targetDim: number;
  /** Offsets k >= 1 to predict (distinct). */
  offsets: readonly number[];
  /** Default 0. */
  seed?: number;
}

export class CpcPredictor extends Module {
  readonly contextDim: number;
  readonly targetDim: number;
  readonly offsets: readonly number[];
  /** W_k, one per offset, in `offsets` order. */
  readonly heads: readonly Linear[];

  constructor(config: CpcPredictorConfig) {
    super();
    const fn = 'cpcPredictor';
    this.contextDim = checkPositiveInt(fn, 'contextDim', config.contextDim);
    this.targetDim = checkPositiveInt(fn, 'targetDim', config.targetDim);
    const offsets = config.offsets;
    if (!Array.isArray(offsets) || offsets.length === 0) throw new ArgumentError(fn, 'offsets', 'must be a non-empty array of integers >= 1');
    offsets.forEach((k, i) => checkPositiveInt(fn, `offsets[${i}]`, k));
    if (new Set(offsets).size !== offsets.length) throw new ArgumentError(fn, 'offsets', `must be distinct, got [${offsets.join(', ')}]`);
    this.offsets = [...offsets];
    const rng = new SeededRandom(config.seed ?? 0);
    this.heads = this.offsets.map((k) => this.addModule(`w${k}`, new Linear({ inFeatures: this.contextDim, outFeatures: this.targetDim, bias: false, rng })));
  }

  /** c [N, T, W, Dc] -> [N, T, W, S D]: W_k c at every position, for every offset (block s = offsets[s]). */
  forward(c: tf.Tensor, _options?: ForwardOptions): tf.Tensor4D {
    this.assertAlive();
    checkInput('CpcPredictor.forward', c, 4, this.contextDim);
    const [n, t, w] = c.shape;
    return tf.tidy(() => {
      const flat = tf.reshape(c, [n * t * w, this.contextDim]) as tf.Tensor2D; // [NTW, Dc]
      const weights = tf.concat(this.heads.map((h) => h.weight), 1) as tf.Tensor2D; // [Dc, S D]
      return tf.reshape(tf.matMul(flat, weights), [n, t, w, this.offsets.length * this.targetDim]) as tf.Tensor4D; // [N, T, W, S D]
    });
  }

  /**
   * One [R_k, D] (prediction, target) pair per offset, R_k = N (T - k) W, rows in (n, t, w)
   * order (see the header). Offsets with k >= T are an error. Caller disposes the tensors.
   */
  predictAhead(
    c: tf.Tensor4D, // [N, T, W, Dc] context, causal along axis 1
    z: tf.Tensor4D, // [N, T, W, D] encodings
  ): { predictions: tf.Tensor2D[]; targets: tf.Tensor2D[] } {
    const fn = 'CpcPredictor.predictAhead';
    this.assertAlive();
    checkInput(fn, c, 4, this.contextDim);
    checkInput(fn, z, 4, this.targetDim);
    const [n, t, w] = c.shape;
    if (z.shape[0] !== n || z.shape[1] !== t || z.shape[2] !== w) {
      throw new ArgumentError(fn, 'z', `must have shape [${n}, ${t}, ${w}, ${this.targetDim}] to match c [${c.shape}], got [${z.shape}]`);
    }
    this.offsets.forEach((k, i) => {
      if (k >= t) throw new ArgumentError(fn, `offsets[${i}]`, `is ${k}, but axis 1 has only ${t} steps (need k < ${t})`);
    });
    const predictions: tf.Tensor2D[] = [];
    const targets: tf.Tensor2D[] = [];
    this.offsets.forEach((k, s) => {
      const rows = n * (t - k) * w;
      predictions.push(
        tf.tidy(() => tf.matMul(tf.reshape(tf.slice(c, [0, 0, 0, 0], [n, t - k, w, this.contextDim]), [rows, this.contextDim]) as tf.Tensor2D, this.heads[s].weight)),
      ); // [R_k, D]
      targets.push(tf.tidy(() => tf.reshape(tf.slice(z, [0, k, 0, 0], [n, t - k, w, this.targetDim]), [rows, this.targetDim]) as tf.Tensor2D)); // [R_k, D]
    });
    return { predictions, targets };
  }
}

export function cpcPredictor(config: CpcPredictorConfig): CpcPredictor {
  return new CpcPredictor(config);
}
