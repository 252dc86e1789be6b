/**
 * 2-D convolution over NHWC tensors: y = x ⋆ W (+ b), W of shape [kh, kw, inC, outC] (HWIO).
 *
 * Padding is symmetric and explicit, as in PyTorch (`padding` pixels on each side, default
 * floor(k/2)), so a stride-2 3x3 conv samples the same pixels as torch's
 * Conv2d(k=3, stride=2, padding=1) — unlike TF's 'same', which pads only bottom/right.
 *
 * Init (He et al. 2015): W ~ N(0, 2/fan), fan = kh·kw·outC ('fanOut', torchvision's ResNet
 * init, the default) or kh·kw·inC ('fanIn'); b = 0. Seeded (see init.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { normalValues, resolveRandom, tensorFrom, type SeededRandom } from './init.ts';

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  /** Square kernel size or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Default 1. */
  stride?: number;
  /** Pixels of zero padding on each side: a number or [ph, pw]. Default floor(k/2) per axis. */
  padding?: number | [number, number];
  /** Add a bias. Default false: convs here are followed by BN, which makes a bias redundant. */
  bias?: boolean;
  /** He-normal fan mode. Default 'fanOut' (torchvision ResNet). */
  init?: 'fanOut' | 'fanIn';
  /** Generator to draw the initial weights from (wins over `seed`). */
  rng?: SeededRandom;
  /** Seed for a fresh generator. Without rng/seed the process-wide default generator is used. */
  seed?: number;
}

export const DEFAULT_CONV2D_CONFIG = { stride: 1, bias: false, init: 'fanOut' } as const;

export class Conv2d extends Module {
  readonly weight: tf.Variable; // [kh, kw, inC, outC]
  readonly bias: tf.Variable | undefined; // [outC]
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: number;
  readonly padding: [number, number];

  constructor(config: Conv2dConfig) {
    super();
    const fn = 'Conv2d';
    this.inChannels = checkPositiveInt(fn, 'inChannels', config.inChannels);
    this.outChannels = checkPositiveInt(fn, 'outChannels', config.outChannels);
    const k = typeof config.kernelSize === 'number' ? [config.kernelSize, config.kernelSize] : config.kernelSize;
    if (!Array.isArray(k) || k.length !== 2) throw new ArgumentError(fn, 'kernelSize', `must be a number or [kh, kw], got ${String(config.kernelSize)}`);
    this.kernelSize = [checkPositiveInt(fn, 'kernelSize', k[0]), checkPositiveInt(fn, 'kernelSize', k[1])];
    this.stride = checkPositiveInt(fn, 'stride', config.stride ?? DEFAULT_CONV2D_CONFIG.stride);
    const p = config.padding ?? [Math.floor(this.kernelSize[0] / 2), Math.floor(this.kernelSize[1] / 2)];
    const pad = typeof p === 'number' ? [p, p] : p;
    if (!Array.isArray(pad) || pad.length !== 2 || !pad.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new ArgumentError(fn, 'padding', `must be a non-negative integer or [ph, pw], got ${String(config.padding)}`);
    }
    this.padding = [pad[0], pad[1]];
    const init = config.init ?? DEFAULT_CONV2D_CONFIG.init;
    if (init !== 'fanOut' && init !== 'fanIn') throw new ArgumentError(fn, 'init', `must be 'fanOut' or 'fanIn', got ${String(init)}`);

    const [kh, kw] = this.kernelSize;
    const fan = kh * kw * (init === 'fanOut' ? this.outChannels : this.inChannels);
    const rng = resolveRandom(config.rng, config.seed);
    const shape = [kh, kw, this.inChannels, this.outChannels];
    this.weight = this.addParameter('weight', tensorFrom(normalValues(rng, kh * kw * this.inChannels * this.outChannels, Math.sqrt(2 / fan)), shape));
    this.bias = config.bias ?? DEFAULT_CONV2D_CONFIG.bias ? this.addParameter('bias', tf.zeros([this.outChannels])) : undefined;
  }

  forward(x: tf.Tensor, _options?: ForwardOptions): tf.Tensor4D {
    this.assertAlive();
    checkInput('Conv2d.forward', x, 4, this.inChannels);
    const [ph, pw] = this.padding;
    const pad: number | [[number, number], [number, number], [number, number], [number, number]] =
      ph === pw ? ph : [[0, 0], [ph, ph], [pw, pw], [0, 0]];
    const x4 = x as tf.Tensor4D;
    const w = this.weight as tf.Tensor4D;
    if (this.bias !== undefined) {
      return tf.fused.conv2d({ x: x4, filter: w, strides: this.stride, pad, bias: this.bias });
    }
    return tf.conv2d(x4, w, this.stride, pad);
  }
}
