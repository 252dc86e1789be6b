/**
 * L2 normalisation along an axis (PyTorch's F.normalize):
 *   y = x / max(‖x‖₂, eps) = x · rsqrt(max(Σx², eps²))
 * Written with rsqrt of the clamped sum of squares so that a zero vector maps to 0 with a
 * finite (zero) gradient instead of NaN. Defaults: axis −1, eps 1e-12.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

export interface L2NormalizeConfig {
  /** Default −1 (the feature axis). */
  axis?: number;
  /** Default 1e-12. */
  epsilon?: number;
}

export const DEFAULT_L2_NORMALIZE_CONFIG = { axis: -1, epsilon: 1e-12 } as const;

export function l2Normalize<T extends tf.Tensor>(x: T, config: L2NormalizeConfig = {}): T {
  if (!(x instanceof tf.Tensor)) throw new ArgumentError('l2Normalize', 'x', 'must be a tf.Tensor');
  if (x.rank < 1) throw new ArgumentError('l2Normalize', 'x', 'must have rank >= 1, got a scalar');
  const axis = config.axis ?? DEFAULT_L2_NORMALIZE_CONFIG.axis;
  const eps = config.epsilon ?? DEFAULT_L2_NORMALIZE_CONFIG.epsilon;
  if (!Number.isInteger(axis) || axis < -x.rank || axis >= x.rank) {
    throw new ArgumentError('l2Normalize', 'axis', `must be an integer in [${-x.rank}, ${x.rank}), got ${axis}`);
  }
  if (!(eps > 0) || eps * eps < 1e-38) {
    throw new ArgumentError('l2Normalize', 'epsilon', `must be > 0 with eps² representable in float32 (eps >= 1e-19), got ${eps}`);
  }
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(x), axis, true); // [..., 1, ...]
    return tf.mul(x, tf.rsqrt(tf.maximum(sq, eps * eps)));
  }) as T;
}
