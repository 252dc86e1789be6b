/**
 * CMC's pairwise contrast between views (Tian, Krishnan, Isola 2019, "Contrastive Multiview
 * Coding", Sec. 3).
 *
 * Every view V_i of a sample has its own encoder and its own memory bank. The directed loss
 * L^{i->j} takes the current feature v_i of the sample in view i as anchor and contrasts it with
 * view j: the positive is the view-j representation of the same sample (its bank-j row), the
 * negatives are K view-j representations of other samples (rows drawn from bank j). Two forms:
 *
 *   softmax (the paper's contrastive loss, InfoNCE):
 *     L^{i->j} = -1/B sum_b log( exp(v_i.f_j,b/tau) / (exp(v_i.f_j,b/tau) + sum_{k=1}^{K} exp(v_i.f_j,k/tau)) )
 *   nce (the paper's NCE approximation of InstDisc; see `nceLoss`):
 *     h = sigmoid(v_i.f/tau - log(K Z_ij / n)),
 *     L^{i->j} = -1/B sum_b [ log h(positive) + sum_{k=1}^{K} log(1 - h(negative k)) ]
 *     with Z_ij estimated once per direction (`estimateCmcNormalizers`).
 *
 * The two-view loss is L(V_i, V_j) = L^{i->j} + L^{j->i} . With M views:
 *   full graph (default)     : L_F = sum_{1 <= i < j <= M} L(V_i, V_j)    (every pair of views)
 *   core view:                  L_C = sum_{j != core} L(V_core, V_j)
 *
 * Without a memory (`memory` undefined) the softmax form contrasts within the batch: the positive
 * of v_i,b is v_j,b and the negatives are v_j,b' of the other samples (B - 1 of them), the
 * end-to-end variant. The NCE form needs a memory bank and normalisers.
 *
 * Defaults: form 'nce' (the paper's main implementation), temperature 0.07, normalize true
 * (CMC L2-normalises features), paradigm 'full'.
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
  softmaxCrossEntropy,
} from '../internal/lossSupport.ts';

/** Memory-bank rows read for this batch, one entry per view. */
export interface CmcMemory {
  /** positives[j]: bank-j rows of the batch's samples, [B, D] each. */
  positives: readonly tf.Tensor2D[];
  /** negatives[j]: rows drawn from bank j, [K, D] shared or [B, K, D] per sample. */
  negatives: readonly (tf.Tensor2D | tf.Tensor3D)[];
}

export interface CmcLossConfig {
  /** 'nce' (NCE approximation, needs memory, normalizers, datasetSize) or 'softmax'. Default 'nce'. */
  form?: 'nce' | 'softmax';
  /** 'full' (every pair of views) or 'core' (the pairs with `coreView`). Default 'full'. */
  paradigm?: 'full' | 'core';
  /** The core view for paradigm 'core'. Default 0. */
  coreView?: number;
  /** tau. Default 0.07. Must be > 0. */
  temperature?: number;
  /** L2-normalise every input first. Default true. */
  normalize?: boolean;
  /** NCE form: Z of direction i->j at [i][j] (from `estimateCmcNormalizers`); diagonal unused. */
  normalizers?: readonly (readonly number[])[];
  /** NCE form: number of samples n in each bank; noise P_n = 1/n. */
  datasetSize?: number;
}

export const DEFAULT_CMC_LOSS_CONFIG = {
  form: 'nce',
  paradigm: 'full',
  coreView: 0,
  temperature: 0.07,
  normalize: true,
} as const;

interface Checked {
  views: number;
  tau: number;
  normalize: boolean;
  pairs: Array<[number, number]>;
  datasetSize: number | undefined;
}

function checkInputs(fn: string, features: unknown, memory: unknown, config: unknown, needNce: boolean): Checked {
  if (!Array.isArray(features)) throw new ArgumentError(fn, 'features', 'must be an array with one [B, D] tensor per view');
  if (features.length < 2) throw new ArgumentError(fn, 'features', `needs at least 2 views, got ${features.length}`);
  features.forEach((f, i) => checkTensor(fn, `features[${i}]`, f, 2));
  const f0 = features[0] as tf.Tensor2D;
  features.forEach((f, i) => checkSameShape(fn, 'features[0]', f0, `features[${i}]`, f as tf.Tensor));
  const [b, d] = f0.shape;
  if (memory !== undefined) {
    if (memory === null || typeof memory !== 'object') throw new ArgumentError(fn, 'memory', 'must be { positives, negatives } or undefined');
    const mem = memory as CmcMemory;
    if (!Array.isArray(mem.positives) || mem.positives.length !== features.length) {
      throw new ArgumentError(fn, 'memory.positives', `must hold one [B, D] tensor per view (${features.length})`);
    }
    if (!Array.isArray(mem.negatives) || mem.negatives.length !== features.length) {
      throw new ArgumentError(fn, 'memory.negatives', `must hold one tensor per view (${features.length})`);
    }
    mem.positives.forEach((p, j) => {
      checkTensor(fn, `memory.positives[${j}]`, p, 2);
      checkSameShape(fn, 'features[0]', f0, `memory.positives[${j}]`, p);
    });
    mem.negatives.forEach((ng, j) => checkNegatives(fn, `memory.negatives[${j}]`, ng, b, d));
  }
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const c = config as CmcLossConfig;
  const tau = checkTemperature(fn, 'config.temperature', c.temperature ?? DEFAULT_CMC_LOSS_CONFIG.temperature);
  const normalize = checkBoolean(fn, 'config.normalize', c.normalize, DEFAULT_CMC_LOSS_CONFIG.normalize);
  const paradigm = c.paradigm ?? DEFAULT_CMC_LOSS_CONFIG.paradigm;
  if (paradigm !== 'full' && paradigm !== 'core') throw new ArgumentError(fn, 'config.paradigm', `must be 'full' or 'core', got ${String(paradigm)}`);
  const m = features.length;
  const core = c.coreView ?? DEFAULT_CMC_LOSS_CONFIG.coreView;
  if (!Number.isInteger(core) || core < 0 || core >= m) throw new ArgumentError(fn, 'config.coreView', `must be a view index in [0, ${m}), got ${core}`);
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i === j) continue;
      if (paradigm === 'core' && i !== core && j !== core) continue;
      pairs.push([i, j]);
    }
  }
  let datasetSize: number | undefined;
  if (needNce) {
    if (memory === undefined) throw new ArgumentError(fn, 'memory', "is required by the NCE form (bank rows and noise); use form 'softmax' for in-batch contrast");
    datasetSize = checkInteger(fn, 'config.datasetSize', c.datasetSize, 1);
  }
  return { views: m, tau, normalize, pairs, datasetSize };
}

/** Similarity logits of the anchors of view i against view j: positive [B] and negatives [B, K]. */
function directedLogits(
  anchor: tf.Tensor2D,
  positives: tf.Tensor2D,
  negatives: tf.Tensor2D | tf.Tensor3D,
  tau: number,
): [tf.Tensor1D, tf.Tensor2D] {
  return tf.tidy(() => [
    tf.div(tf.sum(tf.mul(anchor, positives), 1), tau) as tf.Tensor1D, // [B]
    tf.div(negativeDots(anchor, negatives), tau) as tf.Tensor2D, // [B, K]
  ]);
}

/** CMC's contrastive loss between views (see the header). Scalar, caller disposes. */
export function cmcLoss(
  features: readonly tf.Tensor2D[], // M x [B, D]: current features of each view
  memory: CmcMemory | undefined, // per-view bank rows, or undefined for in-batch softmax
  config: CmcLossConfig = {},
): tf.Scalar {
  const fn = 'cmcLoss';
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  const form = config.form ?? DEFAULT_CMC_LOSS_CONFIG.form;
  if (form !== 'nce' && form !== 'softmax') throw new ArgumentError(fn, 'config.form', `must be 'nce' or 'softmax', got ${String(form)}`);
  const { views, tau, normalize, pairs, datasetSize } = checkInputs(fn, features, memory, config, form === 'nce');
  let logC: number[][] = [];
  if (form === 'nce') {
    const z = config.normalizers;
    if (!Array.isArray(z) || z.length !== views || z.some((row) => !Array.isArray(row) || row.length !== views)) {
      throw new ArgumentError(fn, 'config.normalizers', `must be a ${views}x${views} array of Z values (estimateCmcNormalizers)`);
    }
    logC = z.map((row, i) =>
      row.map((zij: number, j: number) => {
        if (i === j || !pairs.some(([a, b]) => a === i && b === j)) return 0;
        if (typeof zij !== 'number' || !Number.isFinite(zij) || !(zij > 0)) {
          throw new ArgumentError(fn, `config.normalizers[${i}][${j}]`, `must be a finite number > 0, got ${String(zij)}`);
        }
        const neg = (memory as CmcMemory).negatives[j];
        const k = neg.rank === 2 ? neg.shape[0] : neg.shape[1];
        return Math.log(k) + Math.log(zij) - Math.log(datasetSize as number); // log(K Z_ij / n)
      }),
    );
  }
  return tf.tidy(() => {
    const norm = <T extends tf.Tensor>(x: T): T => (normalize ? l2NormalizeRows(x) : x);
    const anchors = features.map(norm); // M x [B, D]
    const pos = memory ? memory.positives.map(norm) : anchors; // M x [B, D]
    const negs = memory ? memory.negatives.map(norm) : undefined; // M x [K, D] | [B, K, D]
    const terms = pairs.map(([i, j]) => {
      if (!negs) {
        const b = anchors[i].shape[0];
        const logits = tf.div(tf.matMul(anchors[i], anchors[j], false, true), tau) as tf.Tensor2D; // [B, B]
        return softmaxCrossEntropy(logits, tf.range(0, b, 1, 'int32') as tf.Tensor1D);
      }
      const [sPos, sNeg] = directedLogits(anchors[i], pos[j], negs[j], tau); // [B], [B, K]
      if (form === 'softmax') {
        return softmaxCrossEntropy(tf.concat([tf.expandDims(sPos, 1), sNeg], 1) as tf.Tensor2D, 0);
      }
      const c = logC[i][j];
      const logH = logSigmoid(tf.sub(sPos, c)); // [B]
      const log1mH = logSigmoid(tf.sub(c, sNeg)); // [B, K]
      return tf.neg(tf.mean(tf.add(logH, tf.sum(log1mH, 1)))) as tf.Scalar;
    });
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * Z_ij for the NCE form, one per direction i->j, estimated as InstDisc does (Wu et al. 2018):
 * Z_ij = n * mean over the B(K+1) pairs of exp(v_i.f_j/tau). Call once on the first batch and
 * pass the result as `config.normalizers` on every step. Diagonal entries are NaN (unused).
 */
export function estimateCmcNormalizers(
  features: readonly tf.Tensor2D[], // M x [B, D]
  memory: CmcMemory,
  config: Omit<CmcLossConfig, 'form' | 'normalizers'> & { datasetSize: number },
): number[][] {
  const fn = 'estimateCmcNormalizers';
  const { views, tau, normalize, datasetSize } = checkInputs(fn, features, memory, { ...config, paradigm: 'full' }, true);
  const n = datasetSize as number;
  const lse = tf.tidy(() => {
    const norm = <T extends tf.Tensor>(x: T): T => (normalize ? l2NormalizeRows(x) : x);
    const rows: tf.Scalar[] = [];
    for (let i = 0; i < views; i++) {
      for (let j = 0; j < views; j++) {
        if (i === j) continue;
        const [sPos, sNeg] = directedLogits(norm(features[i]), norm(memory.positives[j]), norm(memory.negatives[j]), tau);
        rows.push(tf.logSumExp(tf.concat([sPos, tf.reshape(sNeg, [-1])], 0)));
      }
    }
    return tf.stack(rows); // [M(M-1)]
  });
  const values = lse.dataSync();
  lse.dispose();
  const out: number[][] = [];
  let p = 0;
  for (let i = 0; i < views; i++) {
    const row: number[] = [];
    for (let j = 0; j < views; j++) {
      if (i === j) {
        row.push(Number.NaN);
        continue;
      }
      const neg = memory.negatives[j];
      const count = features[i].shape[0] * (1 + (neg.rank === 2 ? neg.shape[0] : neg.shape[1]));
      const z = Math.exp(Math.log(n) + values[p++] - Math.log(count));
      if (!Number.isFinite(z) || !(z > 0)) {
        throw new ArgumentError(fn, 'config.temperature', `gives Z[${i}][${j}] = ${z}, not representable; raise the temperature or check the inputs for NaN`);
      }
      row.push(z);
    }
    out.push(row);
  }
  return out;
}
