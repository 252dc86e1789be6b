/**
 * LARS — layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017), in the form SimCLR
 * (Chen et al. 2020) and BYOL train with, following SimCLR's reference `LARSOptimizer`:
 *
 *   g ← ∇θ + λ·θ                                  (if the parameter is not excluded)
 *   trust ← η·‖θ‖ / ‖g‖  if ‖θ‖ > 0 and ‖g‖ > 0, else 1   (excluded parameters: 1)
 *   v ← μ·v + lr·trust·g                           (v starts at 0)
 *   θ ← θ − (μ·v + lr·trust·g)  (Nesterov)  or  θ ← θ − v
 *
 * Excluded parameters (default: biases and BN, i.e. rank ≤ 1, as SimCLR) get neither weight
 * decay nor the trust ratio. Defaults: momentum 0.9, weightDecay 0, trustCoefficient η 0.001,
 * nesterov false. State: slot 'momentum' per parameter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Optimizer, checkRange, excludeBiasAndNorm, type LearningRate, type ParameterGradient } from './optimizer.ts';

export interface LARSConfig {
  lr: LearningRate;
  /** Default 0.9. */
  momentum?: number;
  /** Default 0 (SimCLR uses 1e-6). */
  weightDecay?: number;
  /** η. Default 0.001. */
  trustCoefficient?: number;
  /** Default false. */
  nesterov?: boolean;
  /** Parameters without weight decay and adaptation. Default excludeBiasAndNorm (rank ≤ 1). */
  exclude?: (name: string, variable: tf.Variable) => boolean;
}

export const DEFAULT_LARS_CONFIG = { momentum: 0.9, weightDecay: 0, trustCoefficient: 0.001, nesterov: false } as const;

export class LARS extends Optimizer {
  readonly kind = 'lars';
  readonly momentum: number;
  readonly weightDecay: number;
  readonly trustCoefficient: number;
  readonly nesterov: boolean;
  private readonly exclude: (name: string, variable: tf.Variable) => boolean;

  constructor(config: LARSConfig) {
    super('lars', config.lr);
    const d = DEFAULT_LARS_CONFIG;
    this.momentum = checkRange('lars', 'momentum', config.momentum ?? d.momentum, 0);
    this.weightDecay = checkRange('lars', 'weightDecay', config.weightDecay ?? d.weightDecay, 0);
    this.trustCoefficient = checkRange('lars', 'trustCoefficient', config.trustCoefficient ?? d.trustCoefficient, 0);
    this.nesterov = config.nesterov ?? d.nesterov;
    this.exclude = config.exclude ?? excludeBiasAndNorm;
  }

  protected slotNames(): string[] {
    return ['momentum'];
  }

  protected update(gradients: readonly ParameterGradient[], lr: number): void {
    const lrT = tf.scalar(lr);
    const mu = tf.scalar(this.momentum);
    const wd = tf.scalar(this.weightDecay);
    const eta = tf.scalar(this.trustCoefficient);
    const one = tf.scalar(1);
    const zero = tf.scalar(0);
    for (const { name, variable, gradient } of gradients) {
      const excluded = this.exclude(name, variable);
      let g: tf.Tensor = gradient;
      let scaledLr: tf.Tensor = lrT;
      if (!excluded) {
        if (this.weightDecay !== 0) g = tf.add(g, tf.mul(wd, variable));
        const wNorm = tf.norm(variable);
        const gNorm = tf.norm(g);
        const ratio = tf.div(tf.mul(eta, wNorm), tf.maximum(gNorm, 1e-30));
        const trust = tf.where(tf.logicalAnd(tf.greater(wNorm, zero), tf.greater(gNorm, zero)), ratio, one);
        scaledLr = tf.mul(lrT, trust);
      }
      const step = tf.mul(scaledLr, g);
      const prev = this.getSlot(name, 'momentum', variable);
      const v = prev === undefined ? step : tf.add(tf.mul(mu, prev), step);
      this.setSlot(name, 'momentum', v);
      const delta = this.nesterov ? tf.add(tf.mul(mu, v), step) : v;
      variable.assign(tf.sub(variable, delta));
    }
  }
}

export function lars(config: LARSConfig): LARS {
  return new LARS(config);
}
