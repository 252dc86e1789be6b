/**
 * The model and optimizer of SimCLR (pipelines/simclr.ts), shared by the pipelines that train
 * SimCLR's encoder f and MLP head g with its optimizer (pipelines/temporal.ts):
 *
 *   f = buildEncoder(config.encoder)            // [N, S, S, C] -> [N, D]
 *   g = mlpProjection(D -> headHiddenDim -> projectionDim)
 *   SGD(momentum, weightDecay) with cosineWithWarmup, base lr = config.lr x imagesPerStep / 256
 *   (the linear scaling rule of Goyal et al. 2017; warmup config.warmupEpochs epochs).
 *
 * f is seeded with ctx.seed and g with ctx.seed + 1. Input normalisation is
 * defaultNormalization(channels).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PipelineContext, PipelineInstance } from '../pipeline/PipelineDefinition.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type Encoder, type EncoderName } from '../pipeline/buildEncoder.ts';
import { mlpProjection } from '../models/mlpProjection.ts';
import type { Module } from '../models/module.ts';
import { sgd, type SGD } from '../optim/sgd.ts';
import { cosineWithWarmup } from '../optim/cosineWithWarmup.ts';

/** The fields of a pipeline config that buildSimclrModel reads (see SimclrConfig for their meaning). */
export interface SimclrModelConfig {
  encoder: EncoderName;
  imageSize: number | null;
  headHiddenDim: number;
  projectionDim: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
}

export interface SimclrModel {
  /** config.imageSize, else the data's height (32 when unknown). */
  imageSize: number;
  mean: number[];
  std: number[];
  f: Encoder;
  g: Module;
  /** f and g as one module (the optimizer's parameters). */
  model: ModuleBundle;
  optimizer: SGD;
  /**
   * The PipelineInstance fields these pipelines share: imageSize, modules { encoder, head },
   * optimizer, features = f(normalised x) in eval mode (before the head), and dispose of f, g
   * and the optimizer.
   */
  instance: Pick<PipelineInstance, 'imageSize' | 'modules' | 'optimizer' | 'features' | 'dispose'>;
}

/** f, g and their optimizer; `imagesPerStep` images (views) enter the encoder per step. */
export function buildSimclrModel(config: SimclrModelConfig, ctx: PipelineContext, imagesPerStep: number): SimclrModel {
  const channels = ctx.dataset.channels;
  const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
  const { mean, std } = defaultNormalization(channels);
  const f = buildEncoder(config.encoder, channels, imageSize, ctx.seed);
  const g = mlpProjection({ inDim: f.dim, hiddenDim: config.headHiddenDim, outDim: config.projectionDim, seed: ctx.seed + 1 });
  const model = new ModuleBundle({ encoder: f.module, head: g });
  const optimizer = sgd({
    lr: cosineWithWarmup({ baseLr: (config.lr * imagesPerStep) / 256, warmupSteps: Math.round(config.warmupEpochs * ctx.stepsPerEpoch), totalSteps: ctx.totalSteps }),
    momentum: config.momentum,
    weightDecay: config.weightDecay,
  });
  const instance: SimclrModel['instance'] = {
    imageSize,
    modules: { encoder: f.module, head: g },
    optimizer,
    features: (images) => tf.tidy(() => f.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D), // [N, D]
    dispose: () => {
      model.dispose();
      optimizer.dispose?.();
    },
  };
  return { imageSize, mean, std, f, g, model, optimizer, instance };
}
