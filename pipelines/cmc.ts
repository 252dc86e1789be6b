/**
 * CMC — Tian, Krishnan & Isola, "Contrastive Multiview Coding", ECCV 2020 (arXiv:1906.05849);
 * reference code: HobbitLong/CMC (train_CMC.py, NCEAverage / NCECriterion / NCESoftmaxLoss).
 *
 * Every image is seen in M views that share its content but not its nuisances. Each view has
 * its own encoder f_v and linear head (-> 128-d, L2-normalised) and its own memory bank of one
 * unit row per training image. For every ordered pair of views (i, j) the current feature of
 * view i is the anchor, the view-j bank row of the same image is its positive and K rows drawn
 * uniformly from bank j are its negatives; the loss sums L^{i->j} over all pairs (the "full
 * graph"; with two views also the "core view" paradigm). Both of the paper's forms: 'nce' (NCE
 * with Z_ij estimated once from the first batch, as InstDisc) and 'softmax' (the (K+1)-way
 * softmax cross-entropy, InfoNCE) — `cmcLoss`. After each step every bank's rows of the batch
 * are updated, v <- normalize(0.5 v + 0.5 f), by their own operators.
 *
 *   source -> augmentInPool(crop, flip[, view split]) -> batchWithPrefetch -> toTensorBatch
 *          -> trainEach(cmcLoss([f_1(x_1), f_2(x_2)], bank rows; in-batch while the banks fill))
 *          -> updateMemoryBank(view 1) -> updateMemoryBank(view 2) -> step reports
 *
 * Views, chosen by the number of channels:
 * - RGB (3 channels): the paper's L and ab of CIE Lab (the cmc preset: L [S, S, 1], ab
 *   [S, S, 2], normalised by the channel ranges as the reference code).
 * - Grayscale (1 channel, e.g. Fashion-MNIST), where ab is identically 0: a frequency split of
 *   the luminance, low = G_sigma * x (Gaussian low-pass, sigma 1.5 px) and high = x - low (the
 *   band-pass residual: edges, stripes, texture). Like L/ab it is a fixed, invertible
 *   decomposition of the image into two complementary signals (low + high = x, as L and ab
 *   together give the RGB image): neither view can be read off the other pixel by pixel, so
 *   what they share is the content of the image — the silhouette implies where the edges and
 *   details lie, and the details imply the shape — the same kind of cross-view prediction as
 *   colourisation is for L -> ab. (Tried as well: top vs bottom half with a 2-row gap, 57.4%
 *   kNN after one epoch on 6k images vs 60.2% for the frequency split (3k-image bank); two
 *   augmentations of one image would turn CMC into SimCLR.)
 * `views: 'lab' | 'frequency'` forces a choice ('lab' needs 3 channels).
 *
 * Crops of the frequency views (`viewCrops`). Cut from one crop, low and high are too easy to
 * match: the in-batch loss at tau 0.07 falls to ~0.14 within half an epoch on Fashion-MNIST (the
 * high-pass residual traces the silhouette the low-pass shows), and the features learnt stay
 * below raw pixels (kNN 76.77% vs 78.86% after 1 epoch, 60k bank / 10k test). So by default
 * each view comes from its own random crop and flip — the InfoMin recipe of Tian et al. 2020
 * ("What Makes for Good Views for Contrastive Learning?", arXiv:2005.10243), which pairs
 * different crops with different channels: what the views share is then the object, not the
 * pixels. Lab keeps the paper's shared crop. Measured the same way with independent crops: the
 * loss is still ~2.2 after 2 epochs, and kNN 79.62% after 2 epochs (the bench).
 *
 * Deviations from the paper / reference code:
 * - Cold start: a bank row never written is a random unit vector, so in the first epoch the
 *   paper's positives carry no signal and its negatives no repulsion (negligible over the
 *   paper's 240 epochs, not over 1-10). For the first `inBatchEpochs` epochs (default 2, while
 *   the banks fill) the step uses CMC's end-to-end form instead: the softmax contrast of view i
 *   against the current view-j features of the batch (positive: the same image, negatives: the
 *   other B - 1 images). The banks are updated from the first step; afterwards the loss is the
 *   paper's (bank positives and negatives, in the configured form). `inBatchEpochs: 0` is the
 *   paper's behaviour from the first step. Measured on 6k Fashion-MNIST images (kNN, 6k bank):
 *   1 epoch 65.2%; 3 epochs with the bank from epoch 2 62.8% (softmax form; the stale bank
 *   slows learning at first, as in InstDisc); 3 epochs with `inBatchEpochs: 3` 70.5% (raw
 *   pixels: 70.4%). Short runs train better with a larger `inBatchEpochs`: the default, 2,
 *   covers the 1-2 epoch runs of `npm start` and `bench:methods` (so they train the end-to-end
 *   form throughout, and fill the banks); longer runs switch to the paper's banks from epoch 3.
 *   (Mixing current positives with random bank negatives instead makes
 *   collapse the cheapest solution: it trained to worse than random weights here, so it is not
 *   offered.)
 * - Negatives: one uniform draw of K rows per step and view, shared by the batch ([K, D]; the
 *   reference draws K per sample, B x the memory), excluding the batch's own images. K = 4096
 *   (the reference's default: 16384), capped at n - B on small data.
 * - Encoders: the 6-conv CNN per view (ResNet-18/50 with `encoder`), full width (the paper
 *   halves the width of each view's encoder); kNN/downstream features: each view's pooled
 *   encoder output, L2-normalised, concatenated ([N, 2 x 128]), as the paper concatenates the
 *   views' features for classification.
 * - SGD (lr 0.03, momentum 0.9, weight decay 1e-4: the reference's) with a cosine schedule and
 *   a short linear warmup (the reference: steps at 120/160/200 of 240 epochs), batch 128 (the
 *   reference: 256); crop scale [0.2, 1] as the reference (`crop_low` 0.2), flip, and no other
 *   augmentation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { cmc as cmcAugment } from '../src/augment/presets.ts';
import { nViews, randomHorizontalFlip, randomResizedCrop, toFloat, type AugmentSpec } from '../src/augment/spec.ts';
import { CMC_LAB_MEAN, CMC_LAB_STD } from '../src/augment/lab.ts';
import { linearProjection } from '../src/models/linearProjection.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import { cmcLoss, estimateCmcNormalizers, type CmcMemory } from '../src/losses/cmcLoss.ts';
import { MemoryBank, type MemoryBankState } from '../src/memory/MemoryBank.ts';
import { updateMemoryBank } from '../src/memory/updateMemoryBank.ts';
import { sgd } from '../src/optim/sgd.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, type Encoder, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import type { Module } from '../src/models/module.ts';
import type { Linear } from '../src/models/linear.ts';
import { ArgumentError } from '../src/errors.ts';
import type { TensorBatch } from '../src/data.ts';

export interface CmcConfig {
  /** Encoder of every view. Paper: AlexNet / ResNet-50 halves; default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size; null = the data's own size. Default null. */
  imageSize: number | null;
  /** Images per batch. Reference: 256 (ImageNet); default 128. */
  batchSize: number;
  /** 'auto' (Lab for 3 channels, frequency split for 1), 'lab' or 'frequency'. Default 'auto'. */
  views: 'auto' | 'lab' | 'frequency';
  /** Gaussian sigma (px) of the low-pass view of the frequency split. Default 1.5. */
  lowPassSigma: number;
  /**
   * 'shared': both views are cut from one random crop of the image (the paper). 'independent':
   * each view from its own random crop and flip (Tian et al. 2020, "What Makes for Good Views",
   * InfoMin), frequency views only. 'auto' (default): 'independent' for the frequency split,
   * 'shared' for Lab. See the header.
   */
  viewCrops: 'auto' | 'shared' | 'independent';
  /** Width of the head output and bank rows. Paper: 128. */
  featureDim: number;
  /** 'nce' (the reference code's default) or 'softmax' (the (K+1)-way cross-entropy, the reference's --softmax). Default 'nce'. */
  loss: 'nce' | 'softmax';
  /** 'full' (every pair of views) or 'core' (pairs with view 0). Identical for two views. Default 'full'. */
  paradigm: 'full' | 'core';
  /** K negatives per view and step. Reference: 16384. Default 4096, capped at n - B. */
  negatives: number;
  /** tau. Paper: 0.07. */
  temperature: number;
  /** Bank momentum m in v <- normalize(m v + (1 - m) f). Paper: 0.5. */
  bankMomentum: number;
  /** Epochs trained with the in-batch (end-to-end) form while the banks fill. Paper: 0; default 2 (see the header). */
  inBatchEpochs: number;
  /** SGD learning rate (not scaled with the batch). Reference: 0.03. Default 0.03. */
  lr: number;
  /** SGD momentum. Paper: 0.9. */
  momentum: number;
  /** Weight decay. Paper: 1e-4. */
  weightDecay: number;
  /** Linear warmup, in epochs (fractional allowed). Paper: none. Default 0.2. */
  warmupEpochs: number;
  /** RandomResizedCrop scale. Reference: [0.2, 1]. */
  cropScale: [number, number];
}

export const CMC_DEFAULTS: CmcConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 128,
  views: 'auto',
  lowPassSigma: 1.5,
  viewCrops: 'auto',
  featureDim: 128,
  loss: 'nce',
  paradigm: 'full',
  negatives: 4096,
  temperature: 0.07,
  bankMomentum: 0.5,
  inBatchEpochs: 2,
  lr: 0.03,
  momentum: 0.9,
  weightDecay: 1e-4,
  warmupEpochs: 0.2,
  cropScale: [0.2, 1],
};

// sRGB -> XYZ (D65) and the reference white, as src/augment/lab.ts (skimage's rgb2lab).
const RGB_TO_XYZ = [0.412453, 0.35758, 0.180423, 0.212671, 0.71516, 0.072169, 0.019334, 0.119193, 0.950227];
const WHITE = [0.95047, 1.0, 1.08883];

/**
 * sRGB in [0, 1] -> CIE Lab split into L [N, H, W, 1] and ab [N, H, W, 2], normalised by CMC's
 * channel ranges (CMC_LAB_MEAN / CMC_LAB_STD): the tensor twin of the cmc preset's splitLab,
 * for features() at evaluation. Caller disposes.
 */
export function rgbToLabViews(rgb: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const [n, h, w, c] = rgb.shape;
  if (c !== 3) throw new ArgumentError('rgbToLabViews', 'rgb', `must have 3 channels, got shape [${rgb.shape}]`);
  return tf.tidy(() => {
    const x = tf.clipByValue(rgb, 0, 1);
    // comparisons against a same-shape tensor: broadcasting comparisons are slow on wasm
    const linear = tf.where(tf.greater(x, tf.fill(x.shape, 0.04045)), tf.pow(tf.div(tf.add(x, 0.055), 1.055), 2.4), tf.div(x, 12.92)); // [N, H, W, 3]
    const m = tf.div(tf.transpose(tf.tensor2d(RGB_TO_XYZ, [3, 3])), tf.tensor1d(WHITE)); // [3, 3]: columns X, Y, Z over white
    const xyz = tf.reshape(tf.matMul(tf.reshape(linear, [-1, 3]), m), [n, h, w, 3]); // [N, H, W, 3]
    const f = tf.where(tf.greater(xyz, tf.fill(xyz.shape, 0.008856)), tf.pow(tf.maximum(xyz, 1e-12), 1 / 3), tf.add(tf.mul(xyz, 7.787), 16 / 116));
    const [fx, fy, fz] = tf.split(f, 3, 3); // [N, H, W, 1] each
    const L = tf.sub(tf.mul(fy, 116), 16);
    const a = tf.mul(tf.sub(fx, fy), 500);
    const b = tf.mul(tf.sub(fy, fz), 200);
    const Ln = tf.div(tf.sub(L, CMC_LAB_MEAN[0]), CMC_LAB_STD[0]) as tf.Tensor4D;
    const ab = tf.div(tf.sub(tf.concat([a, b], 3), tf.tensor1d([CMC_LAB_MEAN[1], CMC_LAB_MEAN[2]])), tf.tensor1d([CMC_LAB_STD[1], CMC_LAB_STD[2]])) as tf.Tensor4D;
    return [Ln, ab];
  });
}

/** Normalised 1-D Gaussian taps, radius ceil(3 sigma). */
function gaussianTaps(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += taps[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  return taps.map((v) => v / s);
}

/**
 * The grayscale views: luminance x in [0, 1] [N, H, W, 1] -> low = G_sigma * x (separable
 * Gaussian, symmetric edge padding) and high = x - low, normalised with the data's mean/std
 * (low: (low - mean) / std; high: high / std, it has mean ~0). Caller disposes.
 */
export function frequencyViews(x: tf.Tensor4D, sigma: number, mean: number, std: number): [tf.Tensor4D, tf.Tensor4D] {
  const fn = 'frequencyViews';
  if (x.shape[3] !== 1) throw new ArgumentError(fn, 'x', `must have 1 channel, got shape [${x.shape}]`);
  if (!(Number.isFinite(sigma) && sigma > 0)) throw new ArgumentError(fn, 'sigma', `must be a number > 0, got ${sigma}`);
  const taps = gaussianTaps(sigma);
  const r = (taps.length - 1) / 2;
  const [, h, w] = x.shape;
  if (r >= h || r >= w) throw new ArgumentError(fn, 'sigma', `gives a ${taps.length}-tap kernel, too wide for ${h} x ${w} images; lower it`);
  return tf.tidy(() => {
    const padded = tf.mirrorPad(x, [[0, 0], [r, r], [r, r], [0, 0]], 'symmetric'); // [N, H + 2r, W + 2r, 1]
    const rows = tf.conv2d(padded, tf.tensor4d(taps, [taps.length, 1, 1, 1]), 1, 'valid'); // [N, H, W + 2r, 1]
    const low = tf.conv2d(rows, tf.tensor4d(taps, [1, taps.length, 1, 1]), 1, 'valid') as tf.Tensor4D; // [N, H, W, 1]
    const high = tf.sub(x, low); // [N, H, W, 1]
    return [tf.div(tf.sub(low, mean), std) as tf.Tensor4D, tf.div(high, std) as tf.Tensor4D];
  });
}

export default definePipeline<CmcConfig>({
  name: 'cmc',
  paper: 'Tian et al. 2019, Contrastive Multiview Coding (arXiv:1906.05849)',
  summary: 'one encoder and memory bank per view (Lab L/ab; low/high frequency on grayscale), NCE or softmax contrast between every pair of views',
  defaults: CMC_DEFAULTS,
  create(config, ctx) {
    const fn = 'cmc';
    const n = ctx.dataset.size;
    const channels = ctx.dataset.channels;
    const batchSize = config.batchSize;
    const kind = config.views === 'auto' ? (channels === 3 ? 'lab' : 'frequency') : config.views;
    if (kind === 'lab' && channels !== 3) throw new ArgumentError(fn, 'config.views', `'lab' needs 3-channel images, the data has ${channels}; use 'frequency'`);
    if (kind !== 'lab' && kind !== 'frequency') throw new ArgumentError(fn, 'config.views', `must be 'auto', 'lab' or 'frequency', got ${String(config.views)}`);
    if (kind === 'frequency' && channels !== 1) {
      throw new ArgumentError(fn, 'config.views', `'frequency' splits a 1-channel image, the data has ${channels} channels; use 'lab'`);
    }
    const crops = config.viewCrops === 'auto' ? (kind === 'lab' ? 'shared' : 'independent') : config.viewCrops;
    if (crops !== 'shared' && crops !== 'independent') throw new ArgumentError(fn, 'config.viewCrops', `must be 'auto', 'shared' or 'independent', got ${String(config.viewCrops)}`);
    if (crops === 'independent' && kind === 'lab') throw new ArgumentError(fn, 'config.viewCrops', `'independent' is implemented for the frequency views only; use 'shared' (or 'auto') with Lab`);
    if (config.loss !== 'nce' && config.loss !== 'softmax') throw new ArgumentError(fn, 'config.loss', `must be 'nce' or 'softmax', got ${String(config.loss)}`);
    if (!(Number.isInteger(config.inBatchEpochs) && config.inBatchEpochs >= 0)) throw new ArgumentError(fn, 'config.inBatchEpochs', `must be an integer >= 0, got ${config.inBatchEpochs}`);
    if (!(Number.isInteger(config.negatives) && config.negatives >= 1)) throw new ArgumentError(fn, 'config.negatives', `must be an integer >= 1, got ${config.negatives}`);
    if (n <= batchSize) throw new ArgumentError(fn, 'batchSize', `must be smaller than the ${n} training images (negatives are drawn from the other images)`);
    const k = Math.min(config.negatives, n - batchSize); // K, capped on small data

    const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
    const viewChannels = kind === 'lab' ? [1, 2] : [1, 1]; // L, ab | low, high
    const viewNames = kind === 'lab' ? ['L', 'ab'] : ['low', 'high'];
    const { mean, std } = defaultNormalization(1);
    const encoders: Encoder[] = viewChannels.map((c, v) => buildEncoder(config.encoder, c, imageSize, ctx.seed + 10 * v));
    const heads: Linear[] = encoders.map((e, v) => linearProjection({ inDim: e.dim, outDim: config.featureDim, seed: ctx.seed + 10 * v + 1 }));
    const named: Record<string, Module> = {};
    viewNames.forEach((name, v) => {
      named[`encoder_${name}`] = encoders[v].module;
      named[`head_${name}`] = heads[v];
    });
    const model = new ModuleBundle(named);
    // One bank per view.
    const restored = ctx.restoredState as { memoryBanks: MemoryBankState[]; nceNormalizers: number[][] | null } | undefined;
    const banks = viewNames.map((_, v) =>
      restored ? MemoryBank.fromState(restored.memoryBanks[v]) : new MemoryBank({ size: n, dim: config.featureDim, momentum: config.bankMomentum, seed: ctx.seed + 100 + v }),
    );
    let normalizers: number[][] | undefined = restored?.nceNormalizers ?? undefined; // Z_ij of the NCE form, from the first batch
    const optimizer = sgd({
      lr: cosineWithWarmup({ baseLr: config.lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
      momentum: config.momentum,
      weightDecay: config.weightDecay,
    });

    const augment: AugmentSpec =
      kind === 'lab'
        ? cmcAugment({ size: imageSize, scale: config.cropScale }) // L [S, S, 1], ab [S, S, 2], normalised
        : nViews(crops === 'shared' ? 1 : 2, [randomResizedCrop(imageSize, { scale: config.cropScale }), randomHorizontalFlip(), toFloat()]); // 1 or 2 x [S, S, 1] in [0, 1]
    const viewOutputs = (feats: tf.Tensor2D[]): Record<string, tf.Tensor> => Object.fromEntries(feats.map((f, v) => [`v${v}`, f])); // for the bank updates
    const independentFrequencyViews = (x: tf.Tensor4D[]): tf.Tensor4D[] => {
      const [low, high1] = frequencyViews(x[0], config.lowPassSigma, mean[0], std[0]); // [B, S, S, 1] x 2
      const [low2, high] = frequencyViews(x[1], config.lowPassSigma, mean[0], std[0]); // [B, S, S, 1] x 2
      tf.dispose([high1, low2]);
      return [low, high];
    };
    const splitViews = (b: TensorBatch): tf.Tensor4D[] =>
      kind === 'lab'
        ? (b.views as tf.Tensor4D[]) // [B, S, S, 1], [B, S, S, 2]
        : crops === 'shared'
          ? frequencyViews(b.views[0] as tf.Tensor4D, config.lowPassSigma, mean[0], std[0]) // [B, S, S, 1] x 2: low, high of one crop
          : independentFrequencyViews(b.views as tf.Tensor4D[]); // low of crop 1, high of crop 2

    const steps = ctx.source.pipe(
      augmentInPool({ pool: ctx.pool, seed: ctx.seed, augment }),
      batchWithPrefetch({ batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: [B, S, S, 1] + [B, S, S, 2] (Lab) or [B, S, S, 1] (grayscale)
      trainEach<TensorBatch>({
        params: model,
        firstStep: ctx.firstStep,
        optimizer,
        loss: (b) => {
          const x = splitViews(b); // M x [B, S, S, C_v]
          const feats = x.map((xv, v) => l2Normalize(heads[v].forward(encoders[v].module.forward(xv, { training: true }), { training: true }))); // M x [B, D], unit
          const lossConfig = { form: config.loss, paradigm: config.paradigm, temperature: config.temperature, normalize: false, datasetSize: n };
          if (b.epochs[b.size - 1] < config.inBatchEpochs) {
            return { loss: cmcLoss(feats, undefined, { ...lossConfig, form: 'softmax' }), outputs: viewOutputs(feats) }; // banks filling: in-batch
          }
          // State read before the step: positives (bank rows of the batch) and K negatives per view.
          const memory: CmcMemory = {
            positives: banks.map((bank) => bank.rows(b.indices)), // M x [B, D]
            negatives: banks.map((bank) => bank.sample(k, b.indices)), // M x [K, D]
          };
          if (config.loss === 'nce') normalizers ??= estimateCmcNormalizers(feats, memory, lossConfig); // first bank step
          return { loss: cmcLoss(feats, memory, { ...lossConfig, normalizers }), outputs: viewOutputs(feats) };
        },
      }),
      // After the optimizer step, in step order, without blocking the next forward pass.
      updateMemoryBank({ bank: banks[0], select: (s) => ({ indices: s.batch.indices, features: s.outputs.v0 as tf.Tensor2D }), step: (s) => s.report.step }),
      updateMemoryBank({ bank: banks[1], select: (s) => ({ indices: s.batch.indices, features: s.outputs.v1 as tf.Tensor2D }), step: (s) => s.report.step }),
      map((s) => s.report),
    );

    const features = (images: tf.Tensor4D): tf.Tensor2D =>
      tf.tidy(() => {
        const x = kind === 'lab' ? rgbToLabViews(images) : frequencyViews(images, config.lowPassSigma, mean[0], std[0]); // M x [N, S, S, C_v]
        const h = x.map((xv, v) => l2Normalize(encoders[v].module.forward(xv, { training: false }) as tf.Tensor2D)); // M x [N, 128], unit
        return tf.concat(h, 1) as tf.Tensor2D; // [N, M x 128]
      });

    return {
      steps,
      imageSize,
      modules: named,
      optimizer,
      features,
      // Between steps (checkpoints): with bank updates pending, a promise that waits for them first.
      state: () => {
        const read = () => ({ views: viewNames, memoryBanks: banks.map((bank) => bank.state()), nceNormalizers: normalizers ?? null, negatives: k });
        return banks.every((bank) => bank.pendingUpdates === 0) ? read() : Promise.all(banks.map((bank) => bank.flush())).then(read);
      },
      dispose: () => {
        model.dispose();
        optimizer.dispose?.();
      },
    };
  },
});
