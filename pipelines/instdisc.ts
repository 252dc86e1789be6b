/**
 * InstDisc — Wu, Xiong, Yu & Lin, "Unsupervised Feature Learning via Non-Parametric Instance
 * Discrimination", CVPR 2018 (arXiv:1805.01978); reference code: zhirongw/lemniscate.pytorch.
 *
 * Every image is its own class. One augmented view -> encoder f -> linear layer to 128-d (no
 * non-linearity) -> L2 normalisation gives v_i. A memory bank holds one unit 128-d row per
 * training image (random at start). The positive of v_i is its own bank row f_i, the negatives
 * are K rows drawn uniformly from the bank, and the non-parametric softmax
 * P(i|v) = exp(v.f_i/tau) / Z is fitted by NCE, with Z estimated once from the first batch and
 * then kept fixed. After each optimizer step the batch's rows are updated,
 * f_i <- normalize(0.5 f_i + 0.5 v_i). Optionally the proximal term lambda ||v_i^t - v_i^{t-1}||^2
 * of the paper's Sec. 3.4 is added (v_i^{t-1} = the bank row before this step), and
 * `objective: 'softmax'` replaces NCE by the exact softmax over all n rows (the paper's Eq. 2).
 *
 *   source -> augmentInPool(1 view) -> batchWithPrefetch -> toTensorBatch
 *          -> trainEach(NCE(v [B, D], bank rows [B, D], K bank samples [K, D]; Z) [+ proximal])
 *          -> updateMemoryBank(v) -> step reports
 *
 * Known behaviour on small data (measured on the 6k Fashion-MNIST subset; see the PR notes):
 * the defaults are the paper's and they do NOT learn good features in a few epochs there. Until
 * an image is revisited (one epoch) its positive is its random initial row, and the NCE noise
 * term pushes every v away from the rows written so far; with nearly collinear initial features
 * (batch cosine ~0.85 for the 6-conv CNN) this rotates the common direction of all features
 * instead of spreading them, so one epoch later an image's own row is *less* similar to it than
 * random rows are (positive cosine -0.13 vs noise 0.38 at epoch 2). The loss grows to the
 * hundreds or thousands and the kNN accuracy falls below that of the random initial encoder.
 * tau 0.1-0.2, lower lr, the proximal term, momentum 0 or the exact softmax lessen it but do not
 * fix it. The paper trains 200 epochs on 1.28M images, where the bank fills ~5000x slower per
 * step.
 *
 * Deviations from the paper / reference code:
 * - Negatives: one uniform draw of K rows per step, shared by the whole batch ([K, D]; the
 *   reference draws K per instance, [B, K, D] — 512 MB at B = 256, K = 4096). Each row is still
 *   uniform, so the NCE objective has the same expectation. `sharedNegatives: false` gives the
 *   per-instance draw. The draw excludes the batch's own instances, so an image never appears as
 *   its own noise sample (the reference allows it; harmless on ImageNet, but on a 6k-image
 *   subset with K = 4096 half the instances would see their own row as noise).
 * - K is capped at n - 1 on small data (n = dataset size).
 * - Bank rows are initialised uniformly on the unit sphere (the reference: uniform in a cube,
 *   not normalised).
 * - Proximal term: the paper describes it; the reference code omits it. `proximalLambda`
 *   defaults to 0 (the reference code); the paper reports lambda = 30-50 on ImageNet.
 * - SGD with momentum and a cosine schedule with linear warmup, sized for short runs (the paper:
 *   lr 0.03, x0.1 at epochs 120 and 160 of 200). Default encoder: the 6-conv CNN (ResNet-18/50
 *   with `encoder`); kNN evaluation uses the encoder's pooled features, before the linear layer.
 * - Augmentation is the reference's (RandomResizedCrop 0.2-1, grayscale 0.2, jitter 0.4, flip);
 *   on 1-channel data the colour steps reduce to brightness/contrast.
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { instDisc as instDiscAugment } from '../src/augment/presets.ts';
import { linearProjection } from '../src/models/linearProjection.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import { nceLoss, estimateNceNormalizer } from '../src/losses/nceLoss.ts';
import { infoNceLossFromLogits } from '../src/losses/infoNceLoss.ts';
import { proximalLoss } from '../src/losses/proximalLoss.ts';
import { MemoryBank } from '../src/memory/MemoryBank.ts';
import { updateMemoryBank } from '../src/memory/updateMemoryBank.ts';
import { sgd } from '../src/optim/sgd.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import { ArgumentError } from '../src/errors.ts';
import type { TensorBatch } from '../src/data.ts';

export interface InstDiscConfig {
  /** Encoder f. Paper: ResNet-50; default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size; null = the data's own size. Default null. */
  imageSize: number | null;
  /** Images per batch. Paper: 256. Default 256. */
  batchSize: number;
  /** Width of v and of the bank rows. Paper: 128. Default 128. */
  featureDim: number;
  /**
   * 'nce': NCE with K noise samples and Z fixed from the first batch (the paper's Sec. 3.2, its
   * ImageNet runs). 'softmax': the exact non-parametric softmax over all n bank rows (the paper's
   * Eq. 2 / the reference's `--nce-k 0`), a cross-entropy whose positive is the instance's row;
   * it reads all n rows every step ([n, D]), fine up to ~100k images. Default 'nce'.
   */
  objective: 'nce' | 'softmax';
  /** K, noise samples per step. Paper: 4096. Default 4096 (capped at n - 1). */
  negatives: number;
  /** One draw of K rows for the whole batch (true) or K per instance (false, B x the memory). Default true. */
  sharedNegatives: boolean;
  /** tau. Paper: 0.07. Default 0.07. */
  temperature: number;
  /** Bank momentum m in f <- normalize(m f + (1 - m) v). Paper: 0.5. Default 0.5. */
  bankMomentum: number;
  /** lambda of the proximal term. Paper: 30-50 (ImageNet); reference code: none. Default 0 (off). */
  proximalLambda: number;
  /** Base learning rate for batch 256 (scaled linearly with the batch). Paper: 0.03. Default 0.03. */
  lr: number;
  /** SGD momentum. Paper: 0.9. */
  momentum: number;
  /** Weight decay. Paper: 5e-4. */
  weightDecay: number;
  /** Linear warmup, in epochs (fractional allowed). Paper: none. Default 0.5. */
  warmupEpochs: number;
  /** RandomResizedCrop scale. Paper: [0.2, 1]. */
  cropScale: [number, number];
}

export const INSTDISC_DEFAULTS: InstDiscConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 256,
  featureDim: 128,
  objective: 'nce',
  negatives: 4096,
  sharedNegatives: true,
  temperature: 0.07,
  bankMomentum: 0.5,
  proximalLambda: 0,
  lr: 0.03,
  momentum: 0.9,
  weightDecay: 5e-4,
  warmupEpochs: 0.5,
  cropScale: [0.2, 1],
};

export default definePipeline<InstDiscConfig>({
  name: 'instdisc',
  paper: 'Wu et al. 2018, Unsupervised Feature Learning via Non-Parametric Instance Discrimination (arXiv:1805.01978)',
  summary: 'memory bank of unit 128-d features, NCE against 4096 uniform bank negatives, bank momentum 0.5',
  defaults: INSTDISC_DEFAULTS,
  create(config, ctx) {
    const fn = 'instdisc';
    const n = ctx.dataset.size;
    const batchSize = config.batchSize;
    if (!(Number.isInteger(config.negatives) && config.negatives >= 1)) {
      throw new ArgumentError(fn, 'config.negatives', `must be an integer >= 1, got ${config.negatives}`);
    }
    if (config.objective !== 'nce' && config.objective !== 'softmax') {
      throw new ArgumentError(fn, 'config.objective', `must be 'nce' or 'softmax', got ${String(config.objective)}`);
    }
    if (!(Number.isFinite(config.proximalLambda) && config.proximalLambda >= 0)) {
      throw new ArgumentError(fn, 'config.proximalLambda', `must be a number >= 0, got ${config.proximalLambda}`);
    }
    if (n < 2) throw new ArgumentError(fn, 'ctx.dataset.size', `must be >= 2 (instance discrimination needs other instances), got ${n}`);
    const k = Math.min(config.negatives, n - 1); // K, capped on small data
    const excludeBatch = n > batchSize; // with n == B every row is in the batch; then draw from all rows

    const channels = ctx.dataset.channels;
    const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
    const { mean, std } = defaultNormalization(channels);
    const f = buildEncoder(config.encoder, channels, imageSize, ctx.seed);
    const fc = linearProjection({ inDim: f.dim, outDim: config.featureDim, seed: ctx.seed + 1 });
    const model = new ModuleBundle({ encoder: f.module, fc });
    const bank = new MemoryBank({ size: n, dim: config.featureDim, momentum: config.bankMomentum, seed: ctx.seed + 2 });
    const lr = (config.lr * batchSize) / 256;
    const optimizer = sgd({
      lr: cosineWithWarmup({ baseLr: lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
      momentum: config.momentum,
      weightDecay: config.weightDecay,
    });
    // Z of the NCE: estimated once, from the first batch (as the paper), then a constant.
    let normalizer: number | undefined;
    const allRows = Int32Array.from({ length: n }, (_, i) => i);

    const steps = ctx.source.pipe(
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: instDiscAugment({ size: imageSize, scale: config.cropScale, mean, std }),
      }), // 1 view, [S, S, C] float32
      batchWithPrefetch({ batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: [B, S, S, C]
      trainEach<TensorBatch>({
        params: model,
        optimizer,
        loss: (b) => {
          const h = f.module.forward(b.views[0], { training: true }); // [B, 128]
          const v = l2Normalize(fc.forward(h, { training: true })); // [B, D] unit
          if (config.objective === 'softmax') {
            // The exact non-parametric softmax P(i|v) over all n rows; the positive is row i.
            const logits = tf.div(tf.matMul(v, bank.rows(allRows), false, true), config.temperature) as tf.Tensor2D; // [B, n]
            let loss = infoNceLossFromLogits(logits, { positiveIndex: b.indices });
            if (config.proximalLambda > 0) loss = tf.add(loss, proximalLoss(v, bank.rows(b.indices), config.proximalLambda)) as tf.Scalar;
            return { loss, outputs: { v } };
          }
          // State read before the step: the positives f_i and K uniform noise rows of the bank.
          const positives = bank.rows(b.indices); // [B, D]
          const negatives = config.sharedNegatives
            ? bank.sample(k, excludeBatch ? b.indices : undefined) // [K, D]
            : bank.samplePerRow(b.indices, k); // [B, K, D]
          const nce = { datasetSize: n, temperature: config.temperature, normalize: false };
          normalizer ??= estimateNceNormalizer(v, positives, negatives, nce);
          let loss = nceLoss(v, positives, negatives, { ...nce, normalizer });
          if (config.proximalLambda > 0) loss = tf.add(loss, proximalLoss(v, positives, config.proximalLambda)) as tf.Scalar;
          return { loss, outputs: { v } };
        },
      }),
      // After the optimizer step, in step order, without blocking the next forward pass.
      updateMemoryBank({
        bank,
        select: (s) => ({ indices: s.batch.indices, features: s.outputs.v as tf.Tensor2D }),
        step: (s) => s.report.step,
      }),
      map((s) => s.report),
    );

    return {
      steps,
      imageSize,
      modules: { encoder: f.module, fc },
      optimizer,
      features: (images) => tf.tidy(() => f.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D),
      // Throws StateError while bank updates are pending (they are flushed when `steps` completes).
      state: () => ({ memoryBank: bank.state(), nceNormalizer: normalizer ?? null, negatives: k }),
      dispose: () => {
        model.dispose();
        optimizer.dispose?.();
      },
    };
  },
});
