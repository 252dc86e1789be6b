/**
 * Encoders and module bundles shared by the pipelines.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, type ForwardOptions } from '../models/module.ts';
import { convNet6 } from '../models/convNet6.ts';
import { resnet18, resnet50 } from '../models/resnet.ts';

export type EncoderName = 'convnet6' | 'resnet18' | 'resnet50';
export const ENCODER_NAMES: readonly EncoderName[] = ['convnet6', 'resnet18', 'resnet50'];

export interface Encoder {
  module: Module;
  /** Width of the features the encoder outputs (before any head). */
  dim: number;
}

/**
 * Builds an encoder that maps [N, S, S, channels] to pooled features [N, dim].
 * ResNets get the CIFAR stem for inputs up to 64 px, the ImageNet stem above.
 */
export function buildEncoder(name: EncoderName, channels: number, imageSize: number, seed: number): Encoder {
  switch (name) {
    case 'convnet6': {
      const m = convNet6({ inChannels: channels, featureDim: null, seed });
      return { module: m, dim: m.outputDim };
    }
    case 'resnet18':
    case 'resnet50': {
      const stem = imageSize <= 64 ? 'cifar' : 'imagenet';
      const m = (name === 'resnet18' ? resnet18 : resnet50)({ stem, inChannels: channels, featureDim: null, seed });
      return { module: m, dim: name === 'resnet18' ? 512 : 2048 };
    }
    default:
      throw new ArgumentError('buildEncoder', 'name', `must be one of ${ENCODER_NAMES.join(', ')}, got '${String(name)}'`);
  }
}

/** Groups modules under one parameter namespace (`encoder.conv1.weight`, `head.fc1.weight`). */
export class ModuleBundle extends Module {
  constructor(modules: Record<string, Module>) {
    super();
    for (const [name, m] of Object.entries(modules)) this.addModule(name, m);
  }

  forward(_x: tf.Tensor, _options: ForwardOptions): tf.Tensor {
    throw new ArgumentError('ModuleBundle.forward', 'x', 'a bundle has no forward pass; call its modules');
  }
}

/** Per-channel normalisation statistics: Fashion-MNIST for 1 channel, ImageNet for 3. */
export function defaultNormalization(channels: number): { mean: number[]; std: number[] } {
  return channels === 1 ? { mean: [0.286], std: [0.353] } : { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
}

/** (x - mean) / std for images in [0, 1], [N, H, W, C]. */
export function normalizeImages(x: tf.Tensor4D, mean: readonly number[], std: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(mean as number[])), tf.tensor1d(std as number[])) as tf.Tensor4D);
}
