/**
 * Stochastic gradient descent with momentum, dampening, weight decay and Nesterov momentum,
 * exactly as torch.optim.SGD (Sutskever et al. 2013 formulation):
 *
 *   g ← ∇θ + λ·θ                              (weight decay λ, for parameters the filter selects)
 *   if μ ≠ 0:  b ← g                           on a parameter's first step
 *              b ← μ·b + (1 − dampening)·g     afterwards
 *              g ← g + μ·b  (Nesterov)  or  g ← b
 *   θ ← θ − lr·g
 *
 * Defaults: momentum 0, dampening 0, weightDecay 0, nesterov false, all parameters decayed.
 * State: slot 'momentum' per parameter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { Optimizer, checkRange, decayAll, type LearningRate, type ParameterGradient } from './optimizer.ts';

export interface SGDConfig {
  lr: LearningRate;
  /** Default 0. */
  momentum?: number;
  /** Default 0. */
  dampening?: number;
  /** L2 penalty λ added to the gradient. Default 0. */
  weightDecay?: number;
  /** Default false (needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** Which parameters get weight decay. Default all (see excludeBiasAndNorm). */
  weightDecayFilter?: (name: string, variable: tf.Variable) => boolean;
}

export const DEFAULT_SGD_CONFIG = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false } as const;

export class SGD extends Optimizer {
  readonly kind = 'sgd';
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly decays: (name: string, variable: tf.Variable) => boolean;

  constructor(config: SGDConfig) {
    super('sgd', config.lr);
    const d = DEFAULT_SGD_CONFIG;
    this.momentum = checkRange('sgd', 'momentum', config.momentum ?? d.momentum, 0);
    this.dampening = checkRange('sgd', 'dampening', config.dampening ?? d.dampening, 0, 1);
    this.weightDecay = checkRange('sgd', 'weightDecay', config.weightDecay ?? d.weightDecay, 0);
    this.nesterov = config.nesterov ?? d.nesterov;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ArgumentError('sgd', 'nesterov', 'needs momentum > 0 and dampening 0');
    }
    this.decays = config.weightDecayFilter ?? decayAll;
  }

  protected slotNames(): string[] {
    return ['momentum'];
  }

  protected update(gradients: readonly ParameterGradient[], lr: number): void {
    const lrT = tf.scalar(lr);
    const wd = tf.scalar(this.weightDecay);
    const mu = tf.scalar(this.momentum);
    const damp = tf.scalar(1 - this.dampening);
    for (const { name, variable, gradient } of gradients) {
      let g: tf.Tensor = gradient;
      if (this.weightDecay !== 0 && this.decays(name, variable)) g = tf.add(g, tf.mul(wd, variable));
      if (this.momentum !== 0) {
        const prev = this.getSlot(name, 'momentum', variable);
        const buf = prev === undefined ? g : tf.add(tf.mul(mu, prev), this.dampening === 0 ? g : tf.mul(damp, g));
        this.setSlot(name, 'momentum', buf);
        g = this.nesterov ? tf.add(g, tf.mul(mu, buf)) : buf;
      }
      variable.assign(tf.sub(variable, tf.mul(lrT, g)));
    }
  }
}

export function sgd(config: SGDConfig): SGD {
  return new SGD(config);
}
