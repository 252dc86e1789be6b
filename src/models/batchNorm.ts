/**
 * Batch normalisation (Ioffe & Szegedy 2015) over the last axis of NHWC or [N, C] tensors,
 * optionally fused with ReLU.
 *
 * Training: y = gamma·(x − mean_B)/sqrt(var_B + eps) + beta with the batch statistics
 * (src/ops/batchNormTraining, which runs a fused kernel where the backend has one), and the
 * running statistics move towards the batch statistics (PyTorch's convention):
 *   running_mean ← (1 − momentum)·running_mean + momentum·mean_B
 *   running_var  ← (1 − momentum)·running_var  + momentum·var_B·n/(n − 1)   (unbiased)
 * where n is the number of values per channel. The update is scheduled through
 * bufferUpdates.ts: inside `trainStep` it runs after the gradient tape, and only if the step
 * did not diverge; elsewhere it runs at once.
 * Eval: y = gamma·(x − running_mean)/sqrt(running_var + eps) + beta.
 *
 * Defaults (PyTorch's): eps 1e-5, momentum 0.1, gamma 1, beta 0, running mean 0, var 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { batchNormTraining } from '../ops/batchNormTraining.ts';
import { Module, checkInput, checkPositiveInt, type ForwardOptions } from './module.ts';
import { scheduleBufferUpdate } from './bufferUpdates.ts';

export interface BatchNormConfig {
  numFeatures: number;
  /** Added to the variance. Default 1e-5. */
  epsilon?: number;
  /** Weight of the new batch statistics in the running averages. Default 0.1. */
  momentum?: number;
  /** Apply ReLU after normalising (fused where the backend allows). Default false. */
  relu?: boolean;
  /** Learn gamma and beta. Default true; false fixes gamma = 1, beta = 0 (no parameters). */
  affine?: boolean;
  /** Initialise gamma to 0 (the last BN of a residual branch, Goyal et al. 2017). Default false. */
  zeroInit?: boolean;
}

export const DEFAULT_BATCH_NORM_CONFIG = {
  epsilon: 1e-5,
  momentum: 0.1,
  relu: false,
  affine: true,
  zeroInit: false,
} as const;

export class BatchNorm extends Module {
  readonly numFeatures: number;
  readonly epsilon: number;
  readonly momentum: number;
  readonly relu: boolean;
  /** gamma, [C]; a constant 1 when affine is false. */
  readonly weight: tf.Tensor1D;
  /** beta, [C]; a constant 0 when affine is false. */
  readonly bias: tf.Tensor1D;
  readonly runningMean: tf.Variable<tf.Rank.R1>; // [C]
  readonly runningVar: tf.Variable<tf.Rank.R1>; // [C]

  constructor(config: BatchNormConfig) {
    super();
    const fn = 'BatchNorm';
    const c = checkPositiveInt(fn, 'numFeatures', config.numFeatures);
    this.numFeatures = c;
    this.epsilon = config.epsilon ?? DEFAULT_BATCH_NORM_CONFIG.epsilon;
    this.momentum = config.momentum ?? DEFAULT_BATCH_NORM_CONFIG.momentum;
    this.relu = config.relu ?? DEFAULT_BATCH_NORM_CONFIG.relu;
    if (!(this.epsilon > 0)) throw new ArgumentError(fn, 'epsilon', `must be > 0, got ${this.epsilon}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new ArgumentError(fn, 'momentum', `must be in [0, 1], got ${this.momentum}`);
    const affine = config.affine ?? DEFAULT_BATCH_NORM_CONFIG.affine;
    const zeroInit = config.zeroInit ?? DEFAULT_BATCH_NORM_CONFIG.zeroInit;
    if (affine) {
      this.weight = this.addParameter('weight', zeroInit ? tf.zeros([c]) : tf.ones([c])) as tf.Variable<tf.Rank.R1>;
      this.bias = this.addParameter('bias', tf.zeros([c])) as tf.Variable<tf.Rank.R1>;
    } else {
      if (zeroInit) throw new ArgumentError(fn, 'zeroInit', 'needs affine: true (there is no gamma to zero)');
      this.weight = this.ownTensor(tf.ones([c]) as tf.Tensor1D);
      this.bias = this.ownTensor(tf.zeros([c]) as tf.Tensor1D);
    }
    this.runningMean = this.addBuffer('running_mean', tf.zeros([c])) as tf.Variable<tf.Rank.R1>;
    this.runningVar = this.addBuffer('running_var', tf.ones([c])) as tf.Variable<tf.Rank.R1>;
  }

  forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor {
    this.assertAlive();
    if (!(x instanceof tf.Tensor) || x.rank < 2) {
      throw new ArgumentError('BatchNorm.forward', 'x', `must be a tensor of rank >= 2, got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`);
    }
    checkInput('BatchNorm.forward', x, x.rank, this.numFeatures);
    if (!options.training) {
      return tf.tidy(() => {
        const xs = x.rank === 2 || x.rank === 4 ? x : tf.reshape(x, [-1, this.numFeatures]);
        let y = tf.batchNorm(xs as tf.Tensor2D, this.runningMean, this.runningVar, this.bias, this.weight, this.epsilon);
        if (this.relu) y = tf.relu(y);
        return xs === x ? y : tf.reshape(y, x.shape);
      });
    }
    const n = x.size / this.numFeatures;
    if (n < 2) {
      throw new ArgumentError('BatchNorm.forward', 'x', `has ${n} value per channel in training mode; batch statistics need at least 2 (shape [${x.shape}])`);
    }
    const { y, mean, variance } = batchNormTraining(x, this.weight, this.bias, { epsilon: this.epsilon, relu: this.relu });
    this.scheduleRunningUpdate(tf.keep(mean), tf.keep(variance), n);
    return y;
  }

  /** Schedules the running-statistics update; takes ownership of mean and variance. */
  private scheduleRunningUpdate(mean: tf.Tensor1D, variance: tf.Tensor1D, n: number): void {
    const m = this.momentum;
    const unbias = n / (n - 1);
    scheduleBufferUpdate({
      apply: () => {
        if (this.disposed) return;
        tf.tidy(() => {
          this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
          this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, m * unbias)));
        });
      },
      dispose: () => {
        mean.dispose();
        variance.dispose();
      },
    });
  }
}
