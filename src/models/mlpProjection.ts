/**
 * MLP projection head (SimCLR, Chen et al. 2020; MoCo v2, Chen et al. 2020):
 *   z = W_L·σ(…σ(W_1·h)) with σ = ReLU, or with `batchNorm` σ = ReLU∘BN on every hidden layer
 *   (SimCLR v2, BYOL), and with `lastBatchNorm` a BN without affine on the output (SimSiam).
 * A Linear followed by BN has no bias (BN's beta replaces it).
 *
 * [N, inDim] → [N, outDim]. Defaults: hiddenDim 2048 (MoCo v2 on ResNet-50; SimCLR uses the
 * encoder width), outDim 128, layers 2, batchNorm false, lastBatchNorm false, seed 0.
 * Children are a Sequential named 'layers' ('layers.0.weight', 'layers.1.running_mean', …).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { Linear } from './linear.ts';
import { BatchNorm } from './batchNorm.ts';
import { ReLU } from './relu.ts';
import { Sequential } from './sequential.ts';
import { SeededRandom } from './init.ts';
import { ArgumentError } from '../errors.ts';

export interface MLPProjectionConfig {
  inDim: number;
  /** Default 2048. */
  hiddenDim?: number;
  /** Default 128. */
  outDim?: number;
  /** Number of Linear layers, ≥ 2. Default 2. */
  layers?: number;
  /** BN (then ReLU) after every hidden Linear. Default false. */
  batchNorm?: boolean;
  /** BN without affine after the last Linear (SimSiam). Default false. */
  lastBatchNorm?: boolean;
  /** Default 0. */
  seed?: number;
}

export const DEFAULT_MLP_PROJECTION_CONFIG = {
  hiddenDim: 2048,
  outDim: 128,
  layers: 2,
  batchNorm: false,
  lastBatchNorm: false,
  seed: 0,
} as const;

export class MLPProjection extends Module {
  readonly inDim: number;
  readonly outputDim: number;
  private readonly net: Sequential;

  constructor(config: MLPProjectionConfig) {
    super();
    const d = DEFAULT_MLP_PROJECTION_CONFIG;
    const fn = 'mlpProjection';
    this.inDim = checkPositiveInt(fn, 'inDim', config.inDim);
    const hidden = checkPositiveInt(fn, 'hiddenDim', config.hiddenDim ?? d.hiddenDim);
    this.outputDim = checkPositiveInt(fn, 'outDim', config.outDim ?? d.outDim);
    const nLayers = checkPositiveInt(fn, 'layers', config.layers ?? d.layers);
    if (nLayers < 2) throw new ArgumentError(fn, 'layers', `must be >= 2 (use linearProjection for 1), got ${nLayers}`);
    const bn = config.batchNorm ?? d.batchNorm;
    const lastBn = config.lastBatchNorm ?? d.lastBatchNorm;
    const rng = new SeededRandom(config.seed ?? d.seed);
    const mods: Module[] = [];
    let c = this.inDim;
    for (let i = 0; i < nLayers - 1; i++) {
      mods.push(new Linear({ inFeatures: c, outFeatures: hidden, bias: !bn, rng }));
      mods.push(bn ? new BatchNorm({ numFeatures: hidden, relu: true }) : new ReLU());
      c = hidden;
    }
    mods.push(new Linear({ inFeatures: c, outFeatures: this.outputDim, bias: !lastBn, rng }));
    if (lastBn) mods.push(new BatchNorm({ numFeatures: this.outputDim, affine: false }));
    this.net = this.addModule('layers', new Sequential(mods));
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor2D {
    this.assertAlive();
    checkInput('MLPProjection.forward', x, 2, this.inDim);
    return this.net.forward(x, options) as tf.Tensor2D;
  }
}

export function mlpProjection(config: MLPProjectionConfig): MLPProjection {
  return new MLPProjection(config);
}
