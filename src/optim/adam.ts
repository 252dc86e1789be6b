/**
 * Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), as torch.optim.Adam/AdamW:
 *
 *   t ← step + 1
 *   g ← ∇θ + λ·θ                     (Adam with L2 weight decay)
 *   θ ← θ·(1 − lr·λ)                 (AdamW: decoupled weight decay, instead of the line above)
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²       (m, v start at 0)
 *   θ ← θ − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
 *
 * Defaults: beta1 0.9, beta2 0.999, epsilon 1e-8, weightDecay 0, decoupledWeightDecay false.
 * State: slots 'm' and 'v' per parameter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Optimizer, checkRange, decayAll, type LearningRate, type ParameterGradient } from './optimizer.ts';

export interface AdamConfig {
  lr: LearningRate;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Default 0. */
  weightDecay?: number;
  /** AdamW's decoupled decay instead of L2 in the gradient. Default false. */
  decoupledWeightDecay?: boolean;
  /** Which parameters get weight decay. Default all. */
  weightDecayFilter?: (name: string, variable: tf.Variable) => boolean;
}

export const DEFAULT_ADAM_CONFIG = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, decoupledWeightDecay: false } as const;

export class Adam extends Optimizer {
  readonly kind = 'adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decoupledWeightDecay: boolean;
  private readonly decays: (name: string, variable: tf.Variable) => boolean;

  constructor(config: AdamConfig) {
    super('adam', config.lr);
    const d = DEFAULT_ADAM_CONFIG;
    this.beta1 = checkRange('adam', 'beta1', config.beta1 ?? d.beta1, 0, 0.999999);
    this.beta2 = checkRange('adam', 'beta2', config.beta2 ?? d.beta2, 0, 0.999999999);
    this.epsilon = checkRange('adam', 'epsilon', config.epsilon ?? d.epsilon, 0);
    this.weightDecay = checkRange('adam', 'weightDecay', config.weightDecay ?? d.weightDecay, 0);
    this.decoupledWeightDecay = config.decoupledWeightDecay ?? d.decoupledWeightDecay;
    this.decays = config.weightDecayFilter ?? decayAll;
  }

  protected slotNames(): string[] {
    return ['m', 'v'];
  }

  protected update(gradients: readonly ParameterGradient[], lr: number, step: number): void {
    const t = step + 1;
    const b1 = tf.scalar(this.beta1);
    const b2 = tf.scalar(this.beta2);
    const c1 = tf.scalar(1 - this.beta1);
    const c2 = tf.scalar(1 - this.beta2);
    const stepSize = tf.scalar(lr / (1 - this.beta1 ** t));
    const vScale = tf.scalar(1 / (1 - this.beta2 ** t));
    const eps = tf.scalar(this.epsilon);
    const wd = tf.scalar(this.weightDecay);
    const decayFactor = tf.scalar(1 - lr * this.weightDecay);
    for (const { name, variable, gradient } of gradients) {
      const decays = this.weightDecay !== 0 && this.decays(name, variable);
      let g: tf.Tensor = gradient;
      let theta: tf.Tensor = variable;
      if (decays && !this.decoupledWeightDecay) g = tf.add(g, tf.mul(wd, variable));
      if (decays && this.decoupledWeightDecay) theta = tf.mul(variable, decayFactor);
      const mPrev = this.getSlot(name, 'm', variable);
      const vPrev = this.getSlot(name, 'v', variable);
      const m = mPrev === undefined ? tf.mul(c1, g) : tf.add(tf.mul(b1, mPrev), tf.mul(c1, g));
      const v = vPrev === undefined ? tf.mul(c2, tf.square(g)) : tf.add(tf.mul(b2, vPrev), tf.mul(c2, tf.square(g)));
      this.setSlot(name, 'm', m);
      this.setSlot(name, 'v', v);
      const denom = tf.add(tf.sqrt(tf.mul(v, vScale)), eps);
      variable.assign(tf.sub(theta, tf.div(tf.mul(stepSize, m), denom)));
    }
  }
}

export function adam(config: AdamConfig): Adam {
  return new Adam(config);
}

/** AdamW: Adam with decoupled weight decay (default weightDecay 0.01, PyTorch's AdamW default). */
export function adamw(config: Omit<AdamConfig, 'decoupledWeightDecay'>): Adam {
  return new Adam({ weightDecay: 0.01, ...config, decoupledWeightDecay: true });
}
