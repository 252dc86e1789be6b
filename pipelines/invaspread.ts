/**
 * InvaSpread — Ye, Zhang, Yuen & Chang, "Unsupervised Embedding Learning via Invariant and
 * Spreading Instance Feature", CVPR 2019 (arXiv:1904.03436); reference code:
 * mangye16/Unsupervised_Embedding_Learning.
 *
 * End to end, no memory bank: two augmentations of each of the B images of a batch go through
 * one encoder f and a linear layer to a 128-d, L2-normalised embedding. For every embedding the
 * other augmentation of its image is the positive (invariance) and the 2(B-1) embeddings of the
 * other images are the negatives (spreading), in a non-parametric softmax at temperature tau
 * whose log-likelihood counts the positive and log(1 - P) of every negative (invaSpreadLoss,
 * the authors' symmetric batch form).
 *
 *   source -> augmentInPool(2 views) -> batchWithPrefetch -> toTensorBatch
 *          -> trainEach(invaSpreadLoss(l2(W f(v1)), l2(W f(v2)))) -> step reports
 *
 * No state: nothing to update after the step.
 *
 * Deviations from the paper / reference code:
 * - Default encoder: the 6-conv CNN (the paper: ResNet-18 on CIFAR, Inception-V1 on CUB);
 *   kNN evaluation uses the encoder's pooled features, before the linear layer (the paper
 *   evaluates the 128-d embedding).
 * - SGD with momentum and a cosine schedule with linear warmup, sized for short runs, and
 *   batch 256 (the paper: batch 128, lr 0.03, step decay over 200+ epochs); the lr is given for
 *   batch 256 and scaled linearly.
 * - Augmentation is InstDisc's (RandomResizedCrop 0.2-1, grayscale 0.2, jitter 0.4, flip), which
 *   is what the reference code uses on CIFAR; on 1-channel data the colour steps reduce to
 *   brightness/contrast.
 * - Both views pass through the encoder as one batch (BN statistics over 2B images).
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
import { invaSpreadLoss } from '../src/losses/invaSpreadLoss.ts';
import { sgd } from '../src/optim/sgd.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import type { TensorBatch } from '../src/data.ts';

export interface InvaSpreadConfig {
  /** Encoder f. Paper: ResNet-18 (CIFAR). Default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size; null = the data's own size. Default null. */
  imageSize: number | null;
  /** Images per batch (2x views, 2(B-1) negatives each). Paper: 128. Default 256. */
  batchSize: number;
  /** Embedding width. Paper: 128. Default 128. */
  featureDim: number;
  /** tau. Paper: 0.1. Default 0.1. */
  temperature: number;
  /** Base learning rate for batch 256 (scaled linearly). Paper: 0.03 at batch 128. Default 0.06 (= 0.03 x 256/128). */
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

export const INVASPREAD_DEFAULTS: InvaSpreadConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 256,
  featureDim: 128,
  temperature: 0.1,
  lr: 0.06,
  momentum: 0.9,
  weightDecay: 5e-4,
  warmupEpochs: 0.5,
  cropScale: [0.2, 1],
};

export default definePipeline<InvaSpreadConfig>({
  name: 'invaspread',
  paper: 'Ye et al. 2019, Unsupervised Embedding Learning via Invariant and Spreading Instance Feature (arXiv:1904.03436)',
  summary: 'end to end, two augmentations, 2(B-1) in-batch negatives, no memory bank',
  defaults: INVASPREAD_DEFAULTS,
  create(config, ctx) {
    const channels = ctx.dataset.channels;
    const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
    const { mean, std } = defaultNormalization(channels);
    const f = buildEncoder(config.encoder, channels, imageSize, ctx.seed);
    const fc = linearProjection({ inDim: f.dim, outDim: config.featureDim, seed: ctx.seed + 1 });
    const model = new ModuleBundle({ encoder: f.module, fc });
    const lr = (config.lr * config.batchSize) / 256;
    const optimizer = sgd({
      lr: cosineWithWarmup({ baseLr: lr, warmupSteps: Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch)), totalSteps: ctx.totalSteps }),
      momentum: config.momentum,
      weightDecay: config.weightDecay,
    });

    const steps = ctx.source.pipe(
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: instDiscAugment({ size: imageSize, scale: config.cropScale, mean, std, views: 2 }),
      }), // 2 views, [S, S, C] float32 each
      batchWithPrefetch({ batchSize: config.batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: 2 x [B, S, S, C]
      trainEach<TensorBatch>({
        params: model,
        firstStep: ctx.firstStep,
        optimizer,
        loss: (b) => {
          const x = tf.concat(b.views, 0) as tf.Tensor4D; // [2B, S, S, C]
          const h = f.module.forward(x, { training: true }); // [2B, 128]
          const z = fc.forward(h, { training: true }); // [2B, D] (the loss L2-normalises)
          const [z1, z2] = tf.split(z, 2, 0) as [tf.Tensor2D, tf.Tensor2D]; // [B, D] x2
          return invaSpreadLoss(z1, z2, { temperature: config.temperature });
        },
      }),
      map((s) => s.report),
    );

    return {
      steps,
      imageSize,
      modules: { encoder: f.module, fc },
      optimizer,
      features: (images) => tf.tidy(() => f.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D),
      dispose: () => {
        model.dispose();
        optimizer.dispose?.();
      },
    };
  },
});
