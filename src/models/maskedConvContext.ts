/**
 * Autoregressive context network of CPC on a grid of encodings (van den Oord et al. 2018,
 * Sec. 3.2: "a PixelCNN-style autoregressive model" over the rows of patch encodings; Henaff
 * et al. 2019, "Data-Efficient Image Recognition with CPC", Sec. 3 / App. A: a stack of
 * residual blocks with masked convolutions).
 *
 * Input z [N, T, W, D]: axis 1 is the autoregressive axis (grid rows of an image, or time of a
 * frame sequence), axis 2 the positions that share a step (grid columns, spatial cells of a
 * frame, or 1). Output c [N, T, W, dim] with c[:, t] a function of z[:, <= t] only: every
 * convolution is causal along axis 1 (the input is zero-padded by kernelRows - 1 rows at the
 * top and never at the bottom) and centred along axis 2.
 *
 *   h_0 = Conv1x1(z)
 *   h_l = h_{l-1} + Conv1x1_l( ReLU( CausalConv_l( ReLU(h_{l-1}) ) ) )     l = 1..layers
 *   c   = h_layers
 *
 * CausalConv has a [kernelRows, kernelCols] kernel; after `layers` blocks c[:, t] sees rows
 * t - layers*(kernelRows - 1) .. t. There is no batch normalisation: its batch statistics
 * would mix the rows below t into c_t (CPC v2 removes BN for the same reason).
 * The last 1x1 conv of every block starts at zero, so at initialisation c = Conv1x1(z).
 *
 * Defaults: dim = inDim, layers 2, kernelRows 3, kernelCols 3, seed 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { Conv2d } from './conv2d.ts';
import { SeededRandom } from './init.ts';

export interface MaskedConvContextConfig {
  /** D, width of the encodings z. */
  inDim: number;
  /** Width of the context c. Default inDim. */
  dim?: number;
  /** Residual blocks. Default 2. */
  layers?: number;
  /** Rows each causal conv sees (the current one and kernelRows - 1 above). Default 3. */
  kernelRows?: number;
  /** Columns each causal conv sees (odd, centred). Default 3. */
  kernelCols?: number;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
}

export const DEFAULT_MASKED_CONV_CONTEXT_CONFIG = { layers: 2, kernelRows: 3, kernelCols: 3, seed: 0 } as const;

/** One residual block: h + Conv1x1(ReLU(CausalConv(ReLU(h)))). */
class CausalBlock extends Module {
  private readonly conv: Conv2d;
  private readonly proj: Conv2d;

  constructor(
    dim: number,
    private readonly kernelRows: number,
    private readonly kernelCols: number,
    rng: SeededRandom,
  ) {
    super();
    // Padding is done by hand in forward (top rows only); the conv itself is 'valid'.
    this.conv = this.addModule('conv', new Conv2d({ inChannels: dim, outChannels: dim, kernelSize: [kernelRows, kernelCols], padding: 0, bias: true, init: 'fanIn', rng }));
    this.proj = this.addModule('proj', new Conv2d({ inChannels: dim, outChannels: dim, kernelSize: 1, padding: 0, bias: true, init: 'fanIn', rng }));
    tf.tidy(() => this.proj.weight.assign(tf.zerosLike(this.proj.weight)));
  }

  forward(h: tf.Tensor, _options: ForwardOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const pw = (this.kernelCols - 1) / 2;
      const padded = tf.pad(tf.relu(h), [[0, 0], [this.kernelRows - 1, 0], [pw, pw], [0, 0]]); // [N, T + kr - 1, W + kc - 1, dim]
      const r = tf.relu(this.conv.forward(padded)); // [N, T, W, dim], row t sees rows t-kr+1..t
      return tf.add(h, this.proj.forward(r)) as tf.Tensor4D; // [N, T, W, dim]
    });
  }
}

export class MaskedConvContext extends Module {
  readonly inDim: number;
  /** Width of c. */
  readonly outputDim: number;
  /** Rows above t that c_t can see. */
  readonly receptiveRows: number;
  private readonly input: Conv2d;
  private readonly blocks: CausalBlock[] = [];

  constructor(config: MaskedConvContextConfig) {
    super();
    const fn = 'maskedConvContext';
    const d = DEFAULT_MASKED_CONV_CONTEXT_CONFIG;
    this.inDim = checkPositiveInt(fn, 'inDim', config.inDim);
    this.outputDim = checkPositiveInt(fn, 'dim', config.dim ?? this.inDim);
    const layers = config.layers ?? d.layers;
    if (!Number.isInteger(layers) || layers < 0) throw new ArgumentError(fn, 'layers', `must be an integer >= 0, got ${layers}`);
    const kr = checkPositiveInt(fn, 'kernelRows', config.kernelRows ?? d.kernelRows);
    const kc = checkPositiveInt(fn, 'kernelCols', config.kernelCols ?? d.kernelCols);
    if (kc % 2 !== 1) throw new ArgumentError(fn, 'kernelCols', `must be odd (centred along the columns), got ${kc}`);
    const seed = config.seed ?? d.seed;
    if (!Number.isFinite(seed)) throw new ArgumentError(fn, 'seed', `must be a finite number, got ${seed}`);
    const rng = new SeededRandom(seed);
    this.input = this.addModule('input', new Conv2d({ inChannels: this.inDim, outChannels: this.outputDim, kernelSize: 1, padding: 0, bias: true, init: 'fanIn', rng }));
    for (let l = 0; l < layers; l++) this.blocks.push(this.addModule(`block${l + 1}`, new CausalBlock(this.outputDim, kr, kc, rng)));
    this.receptiveRows = layers * (kr - 1);
  }

  /** z [N, T, W, inDim] -> c [N, T, W, dim], causal along axis 1. */
  forward(z: tf.Tensor, options: ForwardOptions): tf.Tensor4D {
    this.assertAlive();
    checkInput('MaskedConvContext.forward', z, 4, this.inDim);
    return tf.tidy(() => {
      let h = this.input.forward(z) as tf.Tensor4D; // [N, T, W, dim]
      for (const b of this.blocks) h = b.forward(h, options);
      return h;
    });
  }
}

/** Builds CPC's masked-convolution context network (see MaskedConvContext). */
export function maskedConvContext(config: MaskedConvContextConfig): MaskedConvContext {
  return new MaskedConvContext(config);
}
