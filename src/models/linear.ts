/**
 * Fully connected layer: y = x·W + b, W of shape [in, out] (PyTorch stores Wᵀ), b of [out].
 *
 * Init (PyTorch's nn.Linear default, kaiming_uniform with a = √5):
 *   W, b ~ U(−1/√in, 1/√in). Seeded (see init.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { resolveRandom, tensorFrom, uniformValues, type SeededRandom } from './init.ts';

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Add a bias. Default true (set false when a BN follows). */
  bias?: boolean;
  /** Generator for the initial weights (wins over `seed`). */
  rng?: SeededRandom;
  /** Seed for a fresh generator; without rng/seed the process-wide default is used. */
  seed?: number;
}

export const DEFAULT_LINEAR_CONFIG = { bias: true } as const;

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: tf.Variable<tf.Rank.R2>; // [in, out]
  readonly bias: tf.Variable<tf.Rank.R1> | undefined; // [out]

  constructor(config: LinearConfig) {
    super();
    this.inFeatures = checkPositiveInt('Linear', 'inFeatures', config.inFeatures);
    this.outFeatures = checkPositiveInt('Linear', 'outFeatures', config.outFeatures);
    const rng = resolveRandom(config.rng, config.seed);
    const bound = 1 / Math.sqrt(this.inFeatures);
    this.weight = this.addParameter(
      'weight',
      tensorFrom(uniformValues(rng, this.inFeatures * this.outFeatures, bound), [this.inFeatures, this.outFeatures]),
    ) as tf.Variable<tf.Rank.R2>;
    this.bias = (config.bias ?? DEFAULT_LINEAR_CONFIG.bias)
      ? (this.addParameter('bias', tensorFrom(uniformValues(rng, this.outFeatures, bound), [this.outFeatures])) as tf.Variable<tf.Rank.R1>)
      : undefined;
  }

  forward(x: tf.Tensor, _options?: ForwardOptions): tf.Tensor2D {
    this.assertAlive();
    checkInput('Linear.forward', x, 2, this.inFeatures);
    if (this.bias === undefined) return tf.matMul(x as tf.Tensor2D, this.weight);
    const b = this.bias;
    return tf.tidy(() => tf.add(tf.matMul(x as tf.Tensor2D, this.weight), b));
  }
}
