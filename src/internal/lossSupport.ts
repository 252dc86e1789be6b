/**
 * Private helpers shared by the losses in `src/losses/`: argument checks that name the function
 * and the argument, row L2-normalisation that stays differentiable at zero, and the
 * log-sum-exp form of the softmax cross-entropy.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

/**
 * Logit given to excluded entries (self-similarity, the argmax in InvaSpread's log(1-P)).
 * Finite on purpose: exp(MASKED_LOGIT - max) underflows to exactly 0 and its gradient is 0,
 * while -Infinity could produce NaN through `-inf - (-inf)` if a row were ever fully masked.
 */
export const MASKED_LOGIT = -1e30;

/** Squared-norm floor used by `l2NormalizeRows` (norm floor 1e-12, as torch's F.normalize). */
const NORM_EPS_SQ = 1e-24;

export function describeShape(x: tf.Tensor): string {
  return `[${x.shape.join(', ')}]`;
}

/** Throws unless `x` is a float32 tf.Tensor of one of the given ranks with no empty axis. */
export function checkTensor(fn: string, arg: string, x: unknown, ranks: number | readonly number[]): asserts x is tf.Tensor {
  if (!(x instanceof tf.Tensor)) {
    throw new ArgumentError(fn, arg, `must be a tf.Tensor, got ${x === null ? 'null' : typeof x}`);
  }
  if (x.isDisposed) throw new ArgumentError(fn, arg, 'is a disposed tensor; keep it alive until the loss returns');
  const allowed = typeof ranks === 'number' ? [ranks] : ranks;
  if (!allowed.includes(x.rank)) {
    throw new ArgumentError(fn, arg, `must have rank ${allowed.join(' or ')}, got shape ${describeShape(x)}`);
  }
  if (x.dtype !== 'float32') throw new ArgumentError(fn, arg, `must be float32, got ${x.dtype}; cast it with tf.cast(x, 'float32')`);
  if ((x.shape as number[]).some((s: number) => s === 0)) throw new ArgumentError(fn, arg, `must not have an empty axis, got shape ${describeShape(x)}`);
}

/** Throws unless `a` and `b` have identical shapes. */
export function checkSameShape(fn: string, argA: string, a: tf.Tensor, argB: string, b: tf.Tensor): void {
  if (a.rank !== b.rank || (a.shape as number[]).some((s: number, i: number) => s !== b.shape[i])) {
    throw new ArgumentError(fn, argB, `must have the shape of '${argA}' ${describeShape(a)}, got ${describeShape(b)}`);
  }
}

/** Throws unless `tau` is a finite number > 0. */
export function checkTemperature(fn: string, arg: string, tau: unknown): number {
  if (typeof tau !== 'number' || !Number.isFinite(tau) || !(tau > 0)) {
    throw new ArgumentError(fn, arg, `must be a finite number > 0, got ${String(tau)}`);
  }
  return tau;
}

/** Throws unless `v` is a finite number >= 0 (> 0 when `strict`). */
export function checkNonNegative(fn: string, arg: string, v: unknown, strict = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (strict && v === 0)) {
    throw new ArgumentError(fn, arg, `must be a finite number ${strict ? '> 0' : '>= 0'}, got ${String(v)}`);
  }
  return v;
}

/** Throws unless `v` is an integer >= min. */
export function checkInteger(fn: string, arg: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ArgumentError(fn, arg, `must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** Throws unless `v` is a boolean (or undefined, giving `fallback`). */
export function checkBoolean(fn: string, arg: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ArgumentError(fn, arg, `must be a boolean, got ${String(v)}`);
  return v;
}

/**
 * x / max(||x||, 1e-12) along the last axis. Written with rsqrt(max(sum x^2, 1e-24)) so the
 * gradient at a zero row is 0 instead of NaN (sqrt has an infinite slope at 0).
 */
export function l2NormalizeRows<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), NORM_EPS_SQ))) as T);
}

/**
 * Dot products of every query row with its negatives.
 * negatives [K, D] (shared by all rows) -> [N, K]; negatives [N, K, D] (one set per row) -> [N, K].
 */
export function negativeDots(query: tf.Tensor2D, negatives: tf.Tensor2D | tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    if (negatives.rank === 2) return tf.matMul(query, negatives as tf.Tensor2D, false, true); // [N, K]
    const [n, d] = query.shape;
    const k = negatives.shape[1];
    const q = tf.reshape(query, [n, 1, d]) as tf.Tensor3D; // [N, 1, D]
    return tf.reshape(tf.matMul(q, negatives as tf.Tensor3D, false, true), [n, k]) as tf.Tensor2D; // [N, K]
  });
}

/** Checks the negatives of a query batch [N, D]: [K, D] shared or [N, K, D] per row. */
export function checkNegatives(fn: string, arg: string, negatives: unknown, n: number, d: number): asserts negatives is tf.Tensor2D | tf.Tensor3D {
  checkTensor(fn, arg, negatives, [2, 3]);
  const shape = negatives.shape;
  if (negatives.rank === 2 && shape[1] !== d) {
    throw new ArgumentError(fn, arg, `must be [K, ${d}] (shared) or [${n}, K, ${d}] (per row), got ${describeShape(negatives)}`);
  }
  if (negatives.rank === 3 && (shape[0] !== n || shape[2] !== d)) {
    throw new ArgumentError(fn, arg, `must be [K, ${d}] (shared) or [${n}, K, ${d}] (per row), got ${describeShape(negatives)}`);
  }
}

/**
 * Softmax cross-entropy in log-sum-exp form, averaged over rows:
 *   mean_i [ logsumexp_j logits[i, j] - logits[i, t_i] ]
 * `positive` is the column of the positive: one number for every row, or one per row.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, positive: number | tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const [n, c] = logits.shape;
    const lse = tf.logSumExp(logits, 1); // [N]
    let pos: tf.Tensor1D; // [N]
    if (typeof positive === 'number') {
      pos = tf.reshape(tf.slice(logits, [0, positive], [n, 1]), [n]) as tf.Tensor1D;
    } else {
      const mask = tf.cast(indexMask(positive, c), 'float32'); // [N, C]
      pos = tf.sum(tf.mul(logits, mask), 1) as tf.Tensor1D;
    }
    return tf.mean(tf.sub(lse, pos)) as tf.Scalar;
  });
}

/**
 * Boolean [N, depth] mask, true at (i, indices[i]). Like tf.oneHot, but also for depth 1
 * (tf.oneHot needs depth >= 2). Only for indices that do not depend on a differentiated input:
 * tfjs has no gradient function for Equal.
 */
export function indexMask(indices: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.equal(tf.expandDims(indices, 1), tf.expandDims(tf.range(0, depth, 1, 'int32'), 0)) as tf.Tensor2D);
}

/**
 * log sigmoid(x) = -softplus(-x), stable for any x. Not tf.logSigmoid: its custom gradient fails
 * ("Cannot read properties of undefined (reading 'backend')") when its input is an intermediate
 * tensor inside tf.tidy under tf.grad; softplus has an ordinary registered gradient.
 */
export function logSigmoid<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.neg(tf.softplus(tf.neg(x))) as T);
}

/** Validates a per-row or shared positive column index for logits of shape [n, c]. */
export function checkPositiveIndex(fn: string, arg: string, v: unknown, n: number, c: number): number | Int32Array {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v >= c) throw new ArgumentError(fn, arg, `must be an integer in [0, ${c}), got ${v}`);
    return v;
  }
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number') {
    throw new ArgumentError(fn, arg, `must be a column index or an array of ${n} column indices`);
  }
  const arr = v as ArrayLike<number>;
  if (arr.length !== n) throw new ArgumentError(fn, arg, `has ${arr.length} entries for ${n} rows`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const x = arr[i];
    if (!Number.isInteger(x) || x < 0 || x >= c) throw new ArgumentError(fn, arg, `entry ${i} must be an integer in [0, ${c}), got ${x}`);
    out[i] = x;
  }
  return out;
}
