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
 * Verified against the reference (lemniscate.pytorch NCEAverage / NCECriterion / main.py):
 * - Alignment: the bank rows read and written are those of the batch's dataset indices through
 *   augmentInPool, batching and per-epoch shuffling (checked with images whose pixels encode
 *   their index).
 * - Z = n * mean(exp(v.f/tau)) over the first batch's B(K+1) pairs, then fixed (NCEAverage:
 *   `Z = out.mean() * outputSize`); the loss is NCECriterion's
 *   -[log P_m/(P_m + K P_n) + sum_K log K P_n/(P_m' + K P_n)], P_n = 1/n, as a log-sigmoid
 *   (test/losses: the slow loop reference; test/losses/plantedBugs: mutants of it are caught).
 * - The bank update uses the features v of the step (computed in its forward pass), as the
 *   reference does in NCEFunction.backward, applied after the optimizer step in step order.
 *
 * Known behaviour in short runs (measured on Fashion-MNIST; the bench's numbers are in the PR
 * notes). Every image is seen once per epoch, so in the first epoch its positive is still its
 * random initial row: the first epoch has no alignment signal, only repulsion from the rows
 * written so far. The paper trains 200 epochs, where this is noise; in 1-2 epochs it dominates.
 * Worse, the randomly initialised 6-conv CNN maps all images to nearly the same direction (batch
 * cosine ~0.85 after ReLU + global pooling + the linear layer, whose bias takes the common part
 * of the gradient): with the paper's head, the rows written in epoch 1 are one direction, Z
 * (estimated from the random rows) is off by orders of magnitude for them, the noise term
 * (h ~ 1 for every noise row) swamps the positive, and the features collapse (kNN 23% on the 6k
 * subset after 2 epochs, below the random encoder). Hence `projectionBatchNorm` (below); with
 * it the batch cosine starts at ~0 and the same run reaches 51%. That was still far below the
 * other methods after 1-2 epochs, because of the first epoch's random positives; hence
 * `bankInit: 'encoder'` (below), which gives the first epoch real targets.
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
 * - `bankInit: 'encoder'` (default): before step 1 the bank is filled with the initial
 *   network's v of every training image (un-augmented: resize + centre crop; one forward pass,
 *   about a third of an epoch's cost), so from the first step the positive of an image is a
 *   feature of that image, not a random vector. The first epoch then learns invariance to the
 *   augmentations relative to the initial features while the rows are rewritten. Measured on
 *   Fashion-MNIST, 2 epochs (kNN k = 200): 79.99% with it (60k bank / 10k test; raw pixels
 *   78.86%), 51.85% with random rows (20k images, 20k bank / 2k test; raw pixels 76.05%). The
 *   paper (and `bankInit: 'random'`): rows uniform at random.
 * - `projectionBatchNorm` (default on): BN without affine on the 128-d output of the linear
 *   layer, before the L2 normalisation. It centres the features over the batch, which removes
 *   the common direction of the random encoder's features (see above). The paper: none.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ignoreElements, map, tap, type Observable, type Subscription } from 'rxjs';
import { DataSource, pullFrom, type PullIterator } from '../src/sources/DataSource.ts';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { instDisc as instDiscAugment } from '../src/augment/presets.ts';
import { centerCrop, normalize, resize } from '../src/augment/spec.ts';
import { linearProjection } from '../src/models/linearProjection.ts';
import { BatchNorm } from '../src/models/batchNorm.ts';
import type { Module } from '../src/models/module.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import { nceLoss, estimateNceNormalizer } from '../src/losses/nceLoss.ts';
import { infoNceLossFromLogits } from '../src/losses/infoNceLoss.ts';
import { proximalLoss } from '../src/losses/proximalLoss.ts';
import { MemoryBank, type MemoryBankState } from '../src/memory/MemoryBank.ts';
import { updateMemoryBank } from '../src/memory/updateMemoryBank.ts';
import { sgd } from '../src/optim/sgd.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import { ArgumentError } from '../src/errors.ts';
import type { SourceItem, TensorBatch } from '../src/data.ts';

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
   * Batch-normalise the 128-d projection (no affine) before the L2 normalisation, which centres
   * the features over the batch. Paper: no. Default true: see the header (collinear features).
   */
  projectionBatchNorm: boolean;
  /**
   * 'nce': NCE with K noise samples and Z fixed from the first batch (the paper's Sec. 3.2, its
   * ImageNet runs). 'softmax': the exact non-parametric softmax over all n bank rows (the paper's
   * Eq. 2 / the reference's `--nce-k 0`), a cross-entropy whose positive is the instance's row;
   * it reads all n rows every step ([n, D]), fine up to ~100k images. Default 'nce'.
   */
  objective: 'nce' | 'softmax';
  /**
   * The bank's rows before training. 'random': uniform on the unit sphere (the paper).
   * 'encoder': the initial network's v of every (un-augmented) training image, from one
   * forward pass over the data before step 1 (BN in training mode, no gradient). Default
   * 'encoder': see the header. Needs `ctx.trainOnce` (runPipeline gives it); without it the
   * rows stay random.
   */
  bankInit: 'random' | 'encoder';
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
  projectionBatchNorm: true,
  objective: 'nce',
  bankInit: 'encoder',
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

/** `source`, pulled only once `before` has completed (its error ends the stream). */
function afterFill(source: DataSource<SourceItem>, before: Observable<never>): DataSource<SourceItem> {
  return new DataSource<SourceItem>((): PullIterator<SourceItem> => {
    const upstream = pullFrom(source);
    let sub: Subscription | undefined;
    let done: Promise<void> | undefined;
    return {
      async next() {
        await (done ??= new Promise<void>((resolve, reject) => (sub = before.subscribe({ error: reject, complete: resolve }))));
        return upstream.next();
      },
      async return() {
        sub?.unsubscribe();
        await upstream.return?.(undefined);
        return { done: true, value: undefined };
      },
    };
  });
}

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
    if (config.bankInit !== 'random' && config.bankInit !== 'encoder') {
      throw new ArgumentError(fn, 'config.bankInit', `must be 'random' or 'encoder', got ${String(config.bankInit)}`);
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
    const bn = config.projectionBatchNorm ? new BatchNorm({ numFeatures: config.featureDim, affine: false }) : undefined;
    const modules: Record<string, Module> = bn ? { encoder: f.module, fc, bn } : { encoder: f.module, fc };
    const model = new ModuleBundle(modules);
    const restored = ctx.restoredState as { memoryBank: MemoryBankState; nceNormalizer: number | null } | undefined;
    const bank = restored
      ? MemoryBank.fromState(restored.memoryBank)
      : new MemoryBank({ size: n, dim: config.featureDim, momentum: config.bankMomentum, seed: ctx.seed + 2 });
    const lr = (config.lr * batchSize) / 256;
    const optimizer = sgd({
      lr: cosineWithWarmup({ baseLr: lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
      momentum: config.momentum,
      weightDecay: config.weightDecay,
    });
    // Z of the NCE: estimated once, from the first batch (as the paper), then a constant.
    let normalizer: number | undefined = restored?.nceNormalizer ?? undefined;
    const allRows = Int32Array.from({ length: n }, (_, i) => i);
    // v = normalize(bn(fc(f(x)))) of a batch; training mode (batch statistics) as in the steps.
    const project = (x: tf.Tensor4D): tf.Tensor2D => {
      const p = fc.forward(f.module.forward(x, { training: true }), { training: true }); // [B, D]
      return l2Normalize((bn ? bn.forward(p, { training: true }) : p) as tf.Tensor2D); // [B, D] unit
    };

    // Before step 1 (not on resume): the bank's rows from the initial encoder, one pass.
    const fillBank: Observable<never> | undefined =
      config.bankInit === 'encoder' && restored === undefined && ctx.trainOnce !== undefined
        ? ctx.trainOnce().pipe(
            augmentInPool({ pool: ctx.pool, augment: { views: [[resize(imageSize), centerCrop(imageSize), normalize(mean, std)]] } }), // [S, S, C]
            batchWithPrefetch({ batchSize, prefetch: 2, dropLast: false }),
            toTensorBatch(), // views: [B, S, S, C]
            tap((b) => {
              const v = tf.tidy(() => project(b.views[0] as tf.Tensor4D)); // [B, D] (the batch is released after this tap)
              bank.assign(b.indices, v);
              v.dispose();
            }),
            ignoreElements(),
          )
        : undefined;
    // The training items, after the fill: a DataSource still (not concat), so the step stream
    // stays pull-driven and can be paused between steps for checkpoints.
    const source = fillBank === undefined ? ctx.source : afterFill(ctx.source, fillBank);

    const steps = source.pipe(
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: instDiscAugment({ size: imageSize, scale: config.cropScale, mean, std }),
      }), // 1 view, [S, S, C] float32
      batchWithPrefetch({ batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: [B, S, S, C]
      trainEach<TensorBatch>({
        params: model,
        firstStep: ctx.firstStep,
        optimizer,
        loss: (b) => {
          const v = project(b.views[0] as tf.Tensor4D); // [B, D] unit
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
      modules,
      optimizer,
      features: (images) => tf.tidy(() => f.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D),
      // Between steps (checkpoints): with bank updates pending, a promise that waits for them first.
      state: () => {
        const read = () => ({ memoryBank: bank.state(), nceNormalizer: normalizer ?? null, negatives: k });
        return bank.pendingUpdates === 0 ? read() : bank.flush().then(read);
      },
      dispose: () => {
        model.dispose();
        optimizer.dispose?.();
      },
    };
  },
});
