/**
 * CPC's k-step InfoNCE (van den Oord, Li, Vinyals 2018, "Representation Learning with
 * Contrastive Predictive Coding", Sec. 2.3, Eq. 4; the vision setup of Sec. 3.2 and of
 * Henaff et al. 2019, "Data-Efficient Image Recognition with CPC").
 *
 * For a prediction offset k, the context network emits for every (image, position) row r a
 * prediction zhat_r = W_k c_t of the encoding z_r = z_{t+k} of the patch k rows ahead (or the
 * frame k steps ahead). The positive of prediction r is its true encoding; the negatives are the
 * encodings of every other row in the batch (other patches of the same image and patches of the
 * other images). With the log-bilinear score f_k = exp(z.W_k c) of the paper:
 *
 *   L_k = -1/R sum_r log( exp(zhat_r.z_r/tau) / sum_{r'} exp(zhat_r.z_r'/tau) )
 *       = 1/R sum_r [ logsumexp_{r'} zhat_r.z_r'/tau - zhat_r.z_r/tau ]
 *   L   = 1/S sum_{k} L_k      (mean over the S offsets given)
 *
 * The paper sums the offsets; this averages them (CPC v2's choice), which only rescales by S.
 * Rows of different offsets are never compared with each other.
 *
 * Defaults: temperature 1 and normalize false, i.e. exactly the paper's bilinear score (no
 * temperature, no normalisation). Set normalize true and a temperature for the cosine variant.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { checkBoolean, checkSameShape, checkTemperature, checkTensor, l2NormalizeRows, softmaxCrossEntropy } from '../internal/lossSupport.ts';

export interface CpcInfoNceConfig {
  /** tau in zhat.z/tau. Default 1 (the paper has none). Must be > 0. */
  temperature?: number;
  /** L2-normalise predictions and targets first. Default false (the paper's bilinear score). */
  normalize?: boolean;
}

export const DEFAULT_CPC_INFO_NCE_CONFIG = { temperature: 1, normalize: false } as const;

/**
 * CPC's InfoNCE for one offset (`predictions`/`targets` a single [R, D] pair) or several (arrays
 * with one [R_k, D] pair per offset k; R_k may differ, since fewer rows have a target far ahead).
 * Scalar, caller disposes.
 */
export function cpcInfoNceLoss(
  predictions: tf.Tensor2D | readonly tf.Tensor2D[], // [R, D] or S x [R_k, D]: W_k c_t per row
  targets: tf.Tensor2D | readonly tf.Tensor2D[], // same shapes: the true encodings z_{t+k}
  config: CpcInfoNceConfig = {},
): tf.Scalar {
  const fn = 'cpcInfoNceLoss';
  const preds = Array.isArray(predictions) ? (predictions as readonly tf.Tensor2D[]) : [predictions as tf.Tensor2D];
  const targs = Array.isArray(targets) ? (targets as readonly tf.Tensor2D[]) : [targets as tf.Tensor2D];
  if (Array.isArray(predictions) !== Array.isArray(targets)) {
    throw new ArgumentError(fn, 'targets', 'must be an array exactly when predictions is one (one pair per offset k)');
  }
  if (preds.length === 0) throw new ArgumentError(fn, 'predictions', 'is an empty array; give at least one offset');
  if (preds.length !== targs.length) {
    throw new ArgumentError(fn, 'targets', `has ${targs.length} offsets but predictions has ${preds.length}`);
  }
  const d = (preds[0] as tf.Tensor)?.shape?.[1];
  preds.forEach((p, k) => {
    const name = Array.isArray(predictions) ? `predictions[${k}]` : 'predictions';
    checkTensor(fn, name, p, 2);
    checkTensor(fn, name.replace('predictions', 'targets'), targs[k], 2);
    checkSameShape(fn, name, p, name.replace('predictions', 'targets'), targs[k]);
    if (p.shape[1] !== d) throw new ArgumentError(fn, name, `has ${p.shape[1]} columns but predictions[0] has ${d}`);
  });
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const tau = checkTemperature(fn, 'config.temperature', config.temperature ?? DEFAULT_CPC_INFO_NCE_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', config.normalize, DEFAULT_CPC_INFO_NCE_CONFIG.normalize);
  return tf.tidy(() => {
    const perOffset = preds.map((p, k) => {
      const zhat = normalize ? l2NormalizeRows(p) : p; // [R_k, D]
      const z = normalize ? l2NormalizeRows(targs[k]) : targs[k]; // [R_k, D]
      const logits = tf.div(tf.matMul(zhat, z, false, true), tau) as tf.Tensor2D; // [R_k, R_k], positive on the diagonal
      const rows = p.shape[0];
      return softmaxCrossEntropy(logits, tf.range(0, rows, 1, 'int32') as tf.Tensor1D);
    });
    return tf.div(tf.addN(perOffset), perOffset.length) as tf.Scalar;
  });
}
