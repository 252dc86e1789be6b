/**
 * The benchmark CNN of issue 2 for 28–32 px inputs:
 *   6 × [conv3x3 (pad 1, no bias) → BN → ReLU] with widths 32, 32, 64 (stride 2), 64,
 *   128 (stride 2), 128, then global average pooling and a dense layer to `featureDim`.
 * Identical to `cnn6` in bench/step_torch.py. Input [N, H, W, inChannels] (NHWC), any H, W ≥ 1;
 * output [N, featureDim] (or [N, 128] with featureDim null).
 *
 * Defaults: inChannels 3 (use 1 for Fashion-MNIST), featureDim 128, seed 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { Conv2d } from './conv2d.ts';
import { BatchNorm } from './batchNorm.ts';
import { Linear } from './linear.ts';
import { SeededRandom } from './init.ts';

export interface ConvNet6Config {
  /** Input channels. Default 3. */
  inChannels?: number;
  /** Output dimension of the final dense layer; null for none (output the pooled 128). Default 128. */
  featureDim?: number | null;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
}

export const DEFAULT_CONV_NET6_CONFIG = { inChannels: 3, featureDim: 128, seed: 0 } as const;

/** [width, stride] of the six conv layers. */
export const CONV_NET6_LAYERS: readonly (readonly [number, number])[] = [
  [32, 1],
  [32, 1],
  [64, 2],
  [64, 1],
  [128, 2],
  [128, 1],
];

export class ConvNet6 extends Module {
  readonly inChannels: number;
  /** Width of the output features. */
  readonly outputDim: number;
  private readonly convs: Conv2d[] = [];
  private readonly bns: BatchNorm[] = [];
  private readonly fc: Linear | undefined;

  constructor(config: ConvNet6Config = {}) {
    super();
    this.inChannels = checkPositiveInt('convNet6', 'inChannels', config.inChannels ?? DEFAULT_CONV_NET6_CONFIG.inChannels);
    const featureDim = config.featureDim === undefined ? DEFAULT_CONV_NET6_CONFIG.featureDim : config.featureDim;
    if (featureDim !== null) checkPositiveInt('convNet6', 'featureDim', featureDim);
    const seed = config.seed ?? DEFAULT_CONV_NET6_CONFIG.seed;
    if (!Number.isFinite(seed)) throw new ArgumentError('convNet6', 'seed', `must be a finite number, got ${seed}`);
    const rng = new SeededRandom(seed);
    let c = this.inChannels;
    CONV_NET6_LAYERS.forEach(([width, stride], i) => {
      this.convs.push(this.addModule(`conv${i + 1}`, new Conv2d({ inChannels: c, outChannels: width, kernelSize: 3, stride, padding: 1, rng })));
      this.bns.push(this.addModule(`bn${i + 1}`, new BatchNorm({ numFeatures: width, relu: true })));
      c = width;
    });
    this.fc = featureDim === null ? undefined : this.addModule('fc', new Linear({ inFeatures: c, outFeatures: featureDim, rng }));
    this.outputDim = featureDim ?? c;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor2D {
    this.assertAlive();
    checkInput('ConvNet6.forward', x, 4, this.inChannels);
    return tf.tidy(() => {
      let h = x; // [N, H, W, C]
      for (let i = 0; i < this.convs.length; i++) {
        h = this.bns[i].forward(this.convs[i].forward(h), options); // conv → BN → ReLU (fused)
      }
      const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // [N, 128]
      return this.fc === undefined ? pooled : this.fc.forward(pooled); // [N, featureDim]
    });
  }
}

/** Builds the 6-conv benchmark CNN (see ConvNet6). */
export function convNet6(config: ConvNet6Config = {}): ConvNet6 {
  return new ConvNet6(config);
}
