/**
 * Max pooling over NHWC: y = max over each kernel window. Padding is symmetric, `padding`
 * pixels per side, and padded positions never win (PyTorch's −∞ padding), so
 * MaxPool({ kernelSize: 3, stride: 2, padding: 1 }) is torch's ResNet stem pool.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';

export interface MaxPoolConfig {
  kernelSize: number;
  /** Default kernelSize (PyTorch's default). */
  stride?: number;
  /** Pixels per side. Default 0. */
  padding?: number;
}

export const DEFAULT_MAX_POOL_CONFIG = { padding: 0 } as const;

export class MaxPool extends Module {
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;

  constructor(config: MaxPoolConfig) {
    super();
    this.kernelSize = checkPositiveInt('MaxPool', 'kernelSize', config.kernelSize);
    this.stride = checkPositiveInt('MaxPool', 'stride', config.stride ?? config.kernelSize);
    this.padding = config.padding ?? DEFAULT_MAX_POOL_CONFIG.padding;
    if (!Number.isInteger(this.padding) || this.padding < 0 || this.padding > this.kernelSize / 2) {
      throw new ArgumentError('MaxPool', 'padding', `must be an integer in [0, kernelSize/2], got ${config.padding}`);
    }
  }

  forward(x: tf.Tensor, _options?: ForwardOptions): tf.Tensor4D {
    checkInput('MaxPool.forward', x, 4);
    return tf.maxPool(x as tf.Tensor4D, this.kernelSize, this.stride, this.padding);
  }
}
