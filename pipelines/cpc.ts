/**
 * CPC — van den Oord, Li & Vinyals, "Representation Learning with Contrastive Predictive
 * Coding", 2018 (arXiv:1807.03748), image setup of Sec. 3.2; with choices of Henaff et al.,
 * "Data-Efficient Image Recognition with Contrastive Predictive Coding", ICML 2020
 * (arXiv:1905.09272, "CPC v2").
 *
 * An image (a random crop of it) is cut into a G x G grid of overlapping patches. A patch
 * encoder g_enc maps every patch to z [N, G, G, D]; an autoregressive context network g_ar
 * (masked / causal convolutions over the grid rows) gives c [N, G, G, Dc], c_t depending on the
 * rows <= t only; linear heads W_k predict zhat_{t+k} = W_k c_t for the patch k rows below, and
 * the k-step InfoNCE scores each prediction against its true patch encoding, with every other
 * patch of the same offset in the batch (other positions, other rows, other images) as
 * negatives (cpcInfoNceLoss, via a faster local copy with an explicit gradient, see
 * cpcInfoNceLossFast; the loss is averaged over the offsets).
 *
 *   source -> augmentInPool(crop -> patch grid [G^2, P, P, C]) -> batchWithPrefetch
 *          -> toTensorBatch -> trainEach(cpcInfoNce(W_k g_ar(z)_t, z_{t+k}), z = g_enc(patches))
 *          -> step reports
 *
 * Frame sequences (the video issue): everything after g_enc works on z [N, T, W, D] where axis 1
 * is the autoregressive axis and axis 2 the positions sharing a step. For an image, T = grid rows
 * and W = grid columns; for a clip of T frames, encode each frame (or each of its W spatial
 * cells) with g_enc and stack them as [N, T, W, D] (W = 1 for one vector per frame). The context
 * network is causal along axis 1 only, and `predictAhead` / the loss only shift along axis 1, so
 * predicting "k rows below" becomes "k frames later" with no change to `cpcObjective` below;
 * only the source and the reshape in front of it differ. Set `sequenceLength` (T) to train on a
 * video source this way (createFromFrames, at the end of this file).
 *
 * Deviations from the papers, for 28-32 px images on CPUs:
 * - Grid 6 x 6 of 8 px patches at stride 4 (50% overlap, as the paper's 7 x 7 of 64 px at
 *   stride 32 on 256 px crops), so the grid spans a 28 px crop exactly.
 * - Patch encoder: the 6-conv CNN (ResNet-18/50 with `encoder`; the paper: ResNet-101 v2,
 *   CPC v2: ResNet-161) with global average pooling to D = 128 per patch, z = its output.
 *   It keeps batch normalisation. CPC v2 replaces it with layer norm: batch statistics make
 *   patches depend on each other, which a large model can exploit to see past the causal
 *   receptive field. Here the statistics pool N G^2 patches of many images, which keeps that
 *   leak small, and no layer-norm module exists yet.
 * - Context network: residual masked-convolution blocks (PixelCNN-style, as the papers), 2
 *   blocks of 3 x 3 kernels that see the current row and the 2 above (src/models/
 *   maskedConvContext.ts), no BN. A GRU over the rows was the alternative; the masked conv also
 *   mixes neighbouring columns and needs no sequential loop. Only top-to-bottom prediction
 *   (CPC v2 also predicts bottom-up, from contexts in both directions).
 * - Offsets k = 2, 3, 4: with 50% overlap the patch 1 row below shares half its pixels with
 *   row t, which copying low-level content solves; from k = 2 the target does not overlap the
 *   context row. The paper predicts up to 5 rows ahead on 7 rows; 6 rows leave k <= 4 with at
 *   least 2 rows of targets.
 * - Score: the paper's log-bilinear z^T W_k c (no normalisation, tau = 1) by default; set
 *   `normalize: true` and a temperature for the cosine variant.
 * - CPC v2's per-patch augmentation (colour dropping, random flips per patch) is not done: one
 *   RandomResizedCrop (0.5-1) and a flip per image (the cpc preset); the preset has no
 *   per-patch transform yet.
 * - Adam (as both papers) with a cosine schedule and a short linear warmup, sized for short
 *   runs; lr 3e-3 (the papers: 2e-4 at batch 512 for far longer): after one epoch on 6k images
 *   it gave a better kNN than 1e-3 (58.2% vs 56.5% with context features, 3k-image bank).
 * - Features for kNN/downstream: the context c average-pooled to a 3 x 3 grid of cells and
 *   concatenated ([N, 9 x 128]), where CPC v1's linear evaluation takes one mean over the grid
 *   (`featureGrid: 1`). CPC's representation of an image is its grid of patch features — CPC v2
 *   classifies from the spatial feature grid — and one global mean throws away where things
 *   are, which a patch encoder cannot see otherwise. Measured on Fashion-MNIST after 1 epoch on
 *   the 60k images (kNN k = 200, 20k bank / 5k test): c pooled to 3 x 3 80.42%, z (patch
 *   encodings) pooled to 3 x 3 80.28%, c mean 75.42%, z mean 72.60%; raw pixels 75.84%.
 *   On eval images the grid is cut from the whole image, resized to the grid span if needed
 *   (the training crop is resized to the span the same way).
 *
 * Measured on 6k Fashion-MNIST images with `featureGrid: 1` (kNN k=200, 6k bank / 1k test):
 * 63.5% after 1 epoch, 67.2% after 3 (still rising); raw pixels 70.4%.
 *
 * State: none beyond the weights (no bank or queue).
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { cpc as cpcAugment } from '../src/augment/presets.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import { maskedConvContext, type MaskedConvContext } from '../src/models/maskedConvContext.ts';
import { cpcPredictor, type CpcPredictor } from '../src/models/cpcPredictor.ts';
import type { Module } from '../src/models/module.ts';
import { adam } from '../src/optim/adam.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import { ArgumentError } from '../src/errors.ts';
import type { Sample, SourceItem, TensorBatch } from '../src/data.ts';
import { frameSequences, type FrameSequence } from '../src/operators/frameSequences.ts';
import { centerCrop, normalize, nViews, resize } from '../src/augment/spec.ts';
import { DataSource, pullFrom, type PullIterator } from '../src/sources/DataSource.ts';
import type { Frame } from '../src/sources/FrameSource.ts';
import type { PipelineContext, PipelineInstance } from '../src/pipeline/PipelineDefinition.ts';
import type { Observable, OperatorFunction } from 'rxjs';

export interface CpcConfig {
  /** Patch encoder g_enc. Paper: ResNet-101 v2; default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size of evaluation images; null = the data's own size. Default null. */
  imageSize: number | null;
  /** Images per batch (each gives grid^2 patches). Paper: 512 (16 per GPU x 32); default 64. */
  batchSize: number;
  /** Patches per side. Paper: 7; default 6. */
  grid: number;
  /** Patch size in pixels; null = 2 S / (grid + 1) for S = imageSize (8 at 28 px). Paper: 64. */
  patchSize: number | null;
  /** Patch stride; null = patchSize / 2 (50% overlap, the paper's). */
  stride: number | null;
  /** Width of the context c. Default 128 (= the 6-conv CNN's D). */
  contextDim: number;
  /** Residual masked-conv blocks of g_ar. Default 2. */
  contextLayers: number;
  /** Rows ahead to predict. Paper: 1..5 on a 7-row grid; default [2, 3, 4]. */
  offsets: number[];
  /** tau in zhat.z/tau. Paper: none (1). Default 1. */
  temperature: number;
  /** L2-normalise predictions and targets (cosine score). Paper: false. Default false. */
  normalize: boolean;
  /** What is pooled for features(): 'c' (context, CPC v1) or 'z' (patch encodings). Default 'c'. */
  features: 'z' | 'c';
  /**
   * Cells per side of the pooled feature grid: the G x G grid of `features` is average-pooled to
   * featureGrid x featureGrid cells (boundaries round(i G / featureGrid)), concatenated in
   * row-major order ([N, featureGrid^2 D]). 1 = one mean over the grid (CPC v1's linear
   * evaluation). Default 3 (see the header).
   */
  featureGrid: number;
  /** Adam learning rate. Papers: 2e-4; default 3e-3. */
  lr: number;
  /** Adam L2 weight decay. Papers: none; default 0. */
  weightDecay: number;
  /** Linear warmup, in epochs (fractional allowed). Default 0.1. */
  warmupEpochs: number;
  /** RandomResizedCrop scale of the crop the grid is cut from. Preset: [0.5, 1]. */
  cropScale: [number, number];
  /**
   * Video: frames per sequence T. null (default) = images (the patch grid). When set, the source
   * must emit Frames (fromVideoFile / fromFrameFolder): runs of T consecutive frames
   * (frameSequences) are encoded frame by frame, the context runs over time, and W_k predicts the
   * features of the frame k steps later (offsets must be < T). See createFromFrames below.
   */
  sequenceLength: number | null;
  /** Video: frameIndex step inside a sequence (1 = every decoded frame). Default 1. */
  frameStep: number;
  /** Video: frames between the starts of consecutive sequences; null = sequenceLength. Default null. */
  sequenceHop: number | null;
}

export const CPC_DEFAULTS: CpcConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 64,
  grid: 6,
  patchSize: null,
  stride: null,
  contextDim: 128,
  contextLayers: 2,
  offsets: [2, 3, 4],
  temperature: 1,
  normalize: false,
  features: 'c',
  featureGrid: 3,
  lr: 3e-3,
  weightDecay: 0,
  warmupEpochs: 0.1,
  cropScale: [0.5, 1],
  sequenceLength: null,
  frameStep: 1,
  sequenceHop: null,
};

/** Patch geometry: G patches of P px at stride s span (G - 1) s + P px. */
export interface PatchGeometry {
  grid: number;
  patchSize: number;
  stride: number;
  span: number;
}

/** Resolves the patch grid for square images of `imageSize` px (see CpcConfig). */
export function patchGeometry(config: Pick<CpcConfig, 'grid' | 'patchSize' | 'stride'>, imageSize: number): PatchGeometry {
  const fn = 'cpc';
  const grid = config.grid;
  if (!(Number.isInteger(grid) && grid >= 2)) throw new ArgumentError(fn, 'config.grid', `must be an integer >= 2, got ${grid}`);
  const patchSize = config.patchSize ?? Math.floor((2 * imageSize) / (grid + 1));
  if (!(Number.isInteger(patchSize) && patchSize >= 1)) {
    throw new ArgumentError(fn, 'config.patchSize', `must be a positive integer (or null for auto), got ${patchSize} (image ${imageSize} px, grid ${grid})`);
  }
  const stride = config.stride ?? Math.max(1, Math.floor(patchSize / 2));
  if (!(Number.isInteger(stride) && stride >= 1)) throw new ArgumentError(fn, 'config.stride', `must be a positive integer (or null for patchSize / 2), got ${stride}`);
  return { grid, patchSize, stride, span: (grid - 1) * stride + patchSize };
}

/**
 * Cuts the centred grid of patches out of images, in tf (the same layout as the augmentation's
 * patchGrid: row-major, row gy = axis 1 of the grid): [N, S, S, C] -> [N, G^2, P, P, C].
 */
export function extractPatches(images: tf.Tensor4D, geo: PatchGeometry): tf.Tensor5D {
  const [n, h, w, c] = images.shape;
  if (h < geo.span || w < geo.span) {
    throw new ArgumentError('extractPatches', 'images', `must be at least ${geo.span} x ${geo.span} px for the patch grid, got ${h} x ${w}`);
  }
  const oy = Math.floor((h - geo.span) / 2);
  const ox = Math.floor((w - geo.span) / 2);
  return tf.tidy(() => {
    const patches: tf.Tensor4D[] = [];
    for (let gy = 0; gy < geo.grid; gy++) {
      for (let gx = 0; gx < geo.grid; gx++) {
        patches.push(tf.slice(images, [0, oy + gy * geo.stride, ox + gx * geo.stride, 0], [n, geo.patchSize, geo.patchSize, c]));
      }
    }
    return tf.stack(patches, 1) as tf.Tensor5D; // [N, G^2, P, P, C]
  });
}

/**
 * WORKAROUND (remove when the wasm comparison ops are fast): the same value as
 * `cpcInfoNceLoss(predictions, targets, loss)` — checked against it, value and gradients, in
 * test/pipelines/cpc.test.ts — with the gradient written out instead of taped. The shared loss
 * builds an [R, R] index mask with a broadcasting tf.equal (internal/lossSupport indexMask) and
 * tf.logSumExp's taped gradient runs another broadcasting tf.equal (the Max gradient); on the
 * wasm backend a broadcasting comparison costs ~0.4 us per element, ~3 s per step at R = 1536,
 * more than the encoder. Per offset, with L = P T^T / tau [R, R] and S = softmax_rows(L):
 *
 *   value = 1/R sum_r [ logsumexp_r' L_rr' - p_r.t_r / tau ]
 *   dP = (S T - T) / (tau R),   dT = (S^T P - P) / (tau R)       (then averaged over offsets)
 *
 * Normalisation (config.normalize) is applied before, as ordinary taped ops (l2Normalize).
 */
export function cpcInfoNceLossFast(
  predictions: readonly tf.Tensor2D[], // S x [R_k, D]
  targets: readonly tf.Tensor2D[], // S x [R_k, D]
  loss: { temperature: number; normalize: boolean },
): tf.Scalar {
  const fn = 'cpcInfoNceLossFast';
  if (predictions.length === 0 || predictions.length !== targets.length) {
    throw new ArgumentError(fn, 'targets', `must hold one tensor per prediction (${predictions.length}), got ${targets.length}`);
  }
  predictions.forEach((p, k) => {
    if (p.rank !== 2 || targets[k].rank !== 2 || p.shape[0] !== targets[k].shape[0] || p.shape[1] !== targets[k].shape[1]) {
      throw new ArgumentError(fn, `targets[${k}]`, `must have the shape of predictions[${k}] [${p.shape}], got [${targets[k].shape}]`);
    }
  });
  const tau = loss.temperature;
  if (!(typeof tau === 'number' && Number.isFinite(tau) && tau > 0)) throw new ArgumentError(fn, 'loss.temperature', `must be a number > 0, got ${tau}`);
  const offsetTerm = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [p, t, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const rows = p.shape[0];
    const logits = tf.div(tf.matMul(p, t, false, true), tau); // [R, R], positive on the diagonal
    const m = tf.max(logits, 1, true); // [R, 1]
    const e = tf.exp(tf.sub(logits, m)); // [R, R]
    const sumE = tf.sum(e, 1, true); // [R, 1]
    const lse = tf.add(tf.log(sumE), m); // [R, 1]
    const pos = tf.div(tf.sum(tf.mul(p, t), 1, true), tau); // [R, 1]
    save([p, t, tf.div(e, sumE)]); // softmax rows S [R, R]
    return {
      value: tf.mean(tf.sub(lse, pos)) as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [ps, ts, sm] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const scale = tf.div(dy, tau * rows); // scalar
        const dP = tf.mul(tf.sub(tf.matMul(sm, ts), ts), scale); // [R, D]
        const dT = tf.mul(tf.sub(tf.matMul(sm, ps, true, false), ps), scale); // [R, D]
        return [dP, dT];
      },
    };
  });
  return tf.tidy(() => {
    const terms = predictions.map((p, k) => {
      const pn = loss.normalize ? l2Normalize(p) : p; // [R_k, D]
      const tn = loss.normalize ? l2Normalize(targets[k]) : targets[k]; // [R_k, D]
      return offsetTerm(pn, tn) as tf.Scalar;
    });
    return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
  });
}

/**
 * Average-pools a feature grid [N, G, G, D] to cells x cells and flattens it row-major:
 * [N, cells^2 D]. Cell boundaries are round(i G / cells), so every patch counts in one cell.
 */
export function poolGrid(m: tf.Tensor4D, cells: number): tf.Tensor2D {
  const [n, g, , d] = m.shape;
  if (cells === 1) return tf.mean(m, [1, 2]) as tf.Tensor2D; // [N, D]
  return tf.tidy(() => {
    const parts: tf.Tensor[] = [];
    const edge = (i: number) => Math.round((i * g) / cells);
    for (let cy = 0; cy < cells; cy++) {
      for (let cx = 0; cx < cells; cx++) {
        const [y0, y1, x0, x1] = [edge(cy), edge(cy + 1), edge(cx), edge(cx + 1)];
        parts.push(tf.mean(tf.slice(m, [0, y0, x0, 0], [n, y1 - y0, x1 - x0, d]), [1, 2])); // [N, D]
      }
    }
    return tf.concat(parts, 1) as tf.Tensor2D; // [N, cells^2 D]
  });
}

/** The CPC models: patch encoder, context network and prediction heads. */
export interface CpcModels {
  encoder: Module;
  context: MaskedConvContext;
  predictor: CpcPredictor;
}

/**
 * CPC's objective on a batch of patch grids (training mode):
 *   patches [N, T, W, P, P, C] -> z [N, T, W, D] -> c [N, T, W, Dc] -> (W_k c_t, z_{t+k}) per k
 *   -> k-step InfoNCE. Axis 1 is rows for images and would be time for frame sequences.
 */
export function cpcObjective(
  models: CpcModels,
  patches: tf.Tensor, // [N, T, W, P, P, C]
  loss: { temperature: number; normalize: boolean },
): tf.Scalar {
  const [n, t, w, p, q, ch] = patches.shape;
  const zFlat = models.encoder.forward(tf.reshape(patches, [n * t * w, p, q, ch]), { training: true }) as tf.Tensor2D; // [N T W, D]
  const z = tf.reshape(zFlat, [n, t, w, zFlat.shape[1]]) as tf.Tensor4D; // [N, T, W, D]
  const c = models.context.forward(z, { training: true }); // [N, T, W, Dc], causal along T
  const { predictions, targets } = models.predictor.predictAhead(c, z); // S x [N (T-k) W, D]: W_k c_t, z_{t+k}
  return cpcInfoNceLossFast(predictions, targets, loss); // = cpcInfoNceLoss (see the workaround note)
}

export default definePipeline<CpcConfig>({
  name: 'cpc',
  paper: 'van den Oord et al. 2018, Representation Learning with Contrastive Predictive Coding (arXiv:1807.03748); Henaff et al. 2019 (arXiv:1905.09272)',
  summary: 'patch grid -> patch encoder -> masked-conv context over rows -> W_k predicts k rows ahead, InfoNCE over the batch',
  defaults: CPC_DEFAULTS,
  create(config, ctx) {
    if (config.sequenceLength !== null && config.sequenceLength !== undefined) return createFromFrames(config, ctx);
    const fn = 'cpc';
    const channels = ctx.dataset.channels;
    const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
    const geo = patchGeometry(config, imageSize);
    if (geo.span > imageSize) {
      throw new ArgumentError(fn, 'config.patchSize', `grid ${geo.grid} of ${geo.patchSize} px at stride ${geo.stride} spans ${geo.span} px, more than the ${imageSize} px images`);
    }
    const offsets = config.offsets;
    if (!Array.isArray(offsets) || offsets.length === 0 || offsets.some((k) => !Number.isInteger(k) || k < 1 || k >= geo.grid)) {
      throw new ArgumentError(fn, 'config.offsets', `must be a non-empty list of integers in [1, ${geo.grid - 1}], got ${JSON.stringify(offsets)}`);
    }
    if (config.features !== 'z' && config.features !== 'c') throw new ArgumentError(fn, 'config.features', `must be 'z' or 'c', got ${String(config.features)}`);
    const featureGrid = config.featureGrid ?? 1;
    if (!(Number.isInteger(featureGrid) && featureGrid >= 1 && featureGrid <= geo.grid)) {
      throw new ArgumentError(fn, 'config.featureGrid', `must be an integer in [1, ${geo.grid}] (the grid), got ${featureGrid}`);
    }
    const { mean, std } = defaultNormalization(channels);

    const f = buildEncoder(config.encoder, channels, geo.patchSize, ctx.seed); // patch -> [D]
    const context = maskedConvContext({ inDim: f.dim, dim: config.contextDim, layers: config.contextLayers, seed: ctx.seed + 1 });
    const predictor = cpcPredictor({ contextDim: config.contextDim, targetDim: f.dim, offsets, seed: ctx.seed + 2 });
    const models: CpcModels = { encoder: f.module, context, predictor };
    const model = new ModuleBundle({ encoder: f.module, context, predictor });
    const optimizer = adam({
      lr: cosineWithWarmup({ baseLr: config.lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
      weightDecay: config.weightDecay,
    });
    const g = geo.grid;
    const lossConfig = { temperature: config.temperature, normalize: config.normalize };

    const steps = ctx.source.pipe(
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: cpcAugment({ grid: g, patchSize: geo.patchSize, stride: geo.stride, scale: config.cropScale, mean, std }),
      }), // 1 output per image: patches [G^2, P, P, C] float32
      batchWithPrefetch({ batchSize: config.batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views[0]: [N, G^2, P, P, C]
      trainEach<TensorBatch>({
        params: model,
        firstStep: ctx.firstStep,
        optimizer,
        loss: (b) => {
          const x = b.views[0]; // [N, G^2, P, P, C]
          const [n, , p, q, ch] = x.shape;
          const grid = tf.reshape(x, [n, g, g, p, q, ch]); // [N, T = rows, W = cols, P, P, C]
          return cpcObjective(models, grid, lossConfig);
        },
      }),
      map((s) => s.report),
    );

    const features = (images: tf.Tensor4D): tf.Tensor2D =>
      tf.tidy(() => {
        const n = images.shape[0];
        const sized = images.shape[1] === geo.span && images.shape[2] === geo.span ? images : tf.image.resizeBilinear(images, [geo.span, geo.span], false, true);
        const patches = extractPatches(normalizeImages(sized, mean, std), geo); // [N, G^2, P, P, C]
        const z = f.module.forward(tf.reshape(patches, [n * g * g, geo.patchSize, geo.patchSize, channels]), { training: false }) as tf.Tensor2D; // [N G^2, D]
        const zGrid = tf.reshape(z, [n, g, g, f.dim]) as tf.Tensor4D; // [N, G, G, D]
        const m = config.features === 'z' ? zGrid : context.forward(zGrid, { training: false }); // [N, G, G, D or Dc]
        return poolGrid(m, featureGrid); // [N, featureGrid^2 D]
      });

    return {
      steps,
      imageSize,
      modules: { encoder: f.module, context, predictor },
      optimizer,
      features,
      dispose: () => {
        model.dispose();
        optimizer.dispose?.();
      },
    };
  },
});

/**
 * Sequences as their frames, in order: sequence q's frame i becomes sample q T + i, with the
 * stream's epoch so far (largest seen; batches never mix epochs, so they break only where it
 * advances, and never inside a sequence). Pulls one sequence at a time.
 */
function flattenSequences(t: number): OperatorFunction<FrameSequence, Sample> {
  return (source: Observable<FrameSequence>) =>
    new DataSource<Sample>((): PullIterator<Sample> => {
      const upstream = pullFrom(source);
      let pending: Sample[] = [];
      let q = 0;
      let epoch = 0;
      return {
        async next() {
          if (pending.length === 0) {
            const r = await upstream.next();
            if (r.done) return { done: true, value: undefined };
            const id = q++;
            epoch = Math.max(epoch, r.value.frames[0].epoch ?? 0);
            pending = r.value.frames.map((f, i) => ({ index: id * t + i, epoch, pixels: f.pixels, width: f.width, height: f.height, channels: f.channels }));
          }
          return { done: false, value: pending.shift()! };
        },
        async return() {
          pending = [];
          await upstream.return?.(undefined);
          return { done: true, value: undefined };
        },
      };
    });
}

/**
 * CPC on video (config.sequenceLength = T): the source's frames -> frameSequences (T consecutive
 * frames) -> each frame resized (shorter side), centre-cropped to imageSize and normalised in the
 * pool (the same deterministic transform for every frame of a sequence, so that the only change
 * along time is the video's own) -> batches of N sequences -> g_enc per frame: z [N, T, 1, D]
 * -> the same cpcObjective as images, with axis 1 = time: c_t sees frames <= t and W_k c_t
 * predicts z_{t+k}, the other sequences' and times' frames at the same offset being negatives.
 * Features: as for images, 'z' = g_enc(frame), 'c' = the context of a one-frame sequence.
 */
export function createFromFrames(config: CpcConfig, ctx: PipelineContext): PipelineInstance {
  const fn = 'cpc';
  const t = config.sequenceLength!;
  if (!(Number.isInteger(t) && t >= 2)) throw new ArgumentError(fn, 'config.sequenceLength', `must be an integer >= 2 (frames per sequence) or null (images), got ${t}`);
  const offsets = config.offsets;
  if (!Array.isArray(offsets) || offsets.length === 0 || offsets.some((k) => !Number.isInteger(k) || k < 1 || k >= t)) {
    throw new ArgumentError(fn, 'config.offsets', `must be a non-empty list of integers in [1, ${t - 1}] (frames ahead, below sequenceLength ${t}), got ${JSON.stringify(offsets)}`);
  }
  if (config.features !== 'z' && config.features !== 'c') throw new ArgumentError(fn, 'config.features', `must be 'z' or 'c', got ${String(config.features)}`);
  const channels = ctx.dataset.channels;
  const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
  const { mean, std } = defaultNormalization(channels);
  const f = buildEncoder(config.encoder, channels, imageSize, ctx.seed); // frame -> [D]
  const context = maskedConvContext({ inDim: f.dim, dim: config.contextDim, layers: config.contextLayers, seed: ctx.seed + 1 });
  const predictor = cpcPredictor({ contextDim: config.contextDim, targetDim: f.dim, offsets, seed: ctx.seed + 2 });
  const models: CpcModels = { encoder: f.module, context, predictor };
  const model = new ModuleBundle({ encoder: f.module, context, predictor });
  const optimizer = adam({
    lr: cosineWithWarmup({ baseLr: config.lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
    weightDecay: config.weightDecay,
  });
  const lossConfig = { temperature: config.temperature, normalize: config.normalize };
  const n = config.batchSize;

  const steps = (ctx.source as Observable<SourceItem> as Observable<Frame>).pipe(
    frameSequences({ length: t, step: config.frameStep, hop: config.sequenceHop ?? t }), // T consecutive frames of one video
    flattenSequences(t), // T samples per sequence, in time order
    augmentInPool({ pool: ctx.pool, seed: ctx.seed, augment: nViews(1, [resize(imageSize), centerCrop(imageSize), normalize(mean, std)]) }), // [S, S, C] float32
    batchWithPrefetch({ batchSize: n * t, prefetch: 2, dropLast: true }),
    toTensorBatch(), // views[0]: [N T, S, S, C]
    trainEach<TensorBatch>({
      params: model,
      optimizer,
      images: (b) => b.size / t,
      loss: (b) => {
        const x = b.views[0]; // [N T, S, S, C]
        const [, s, s2, ch] = x.shape;
        const seq = tf.reshape(x, [n, t, 1, s, s2, ch]); // [N, T, W = 1, S, S, C]
        return cpcObjective(models, seq, lossConfig);
      },
    }),
    map((r) => r.report),
  );

  const features = (images: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const z = f.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D; // [N, D]
      if (config.features === 'z') return z;
      const c = context.forward(tf.reshape(z, [z.shape[0], 1, 1, f.dim]), { training: false }); // [N, 1, 1, Dc]
      return tf.reshape(c, [z.shape[0], config.contextDim]) as tf.Tensor2D; // [N, Dc]
    });

  return {
    steps,
    imageSize,
    modules: { encoder: f.module, context, predictor },
    optimizer,
    features,
    dispose: () => {
      model.dispose();
      optimizer.dispose?.();
    },
  };
}
