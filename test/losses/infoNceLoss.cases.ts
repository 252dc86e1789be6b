import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { infoNceLoss, infoNceLossFromLogits } from '../../src/losses/infoNceLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, embeddingPair, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { crossEntropyRef, infoNceRef } from './reference.ts';
import { assertProperty, liftRows, expectClose, expectGradientsMatch, noLeak, orthonormal, t2, t3, tol, useCpu, value } from './support.ts';

/** query, positive key [N][D] and a queue [K][D] of the same D. */
const batch = (n: { min: number; max: number }, d: { min: number; max: number }, k: { min: number; max: number }) =>
  embeddingBatch({ rows: n, dim: d }).chain((q) =>
    fc.tuple(fc.constant(q), embeddingBatch({ rows: q.length, dim: q[0].length }), embeddingBatch({ rows: k, dim: q[0].length })),
  );

describe('infoNceLoss', () => {
  beforeAll(useCpu);

  it('matches the slow loop from MoCo Eq. 1 with a shared queue, tau down to 0.01', () => {
    fc.assert(
      fc.property(batch({ min: 1, max: 5 }, { min: 1, max: 6 }, { min: 1, max: 8 }), temperature(), ([q, k, queue], tau) => {
        const ref = infoNceRef(q, k, queue, tau);
        expectClose(noLeak(() => value(() => infoNceLoss(t2(q), t2(k), t2(queue), { temperature: tau }))), ref, tol(ref, tau));
      }),
      { numRuns: 60 },
    );
  });

  it('matches the slow loop with per-query negatives [N, K, D]', () => {
    fc.assert(
      fc.property(
        batch({ min: 1, max: 4 }, { min: 1, max: 5 }, { min: 1, max: 1 }).chain(([q, k]) =>
          fc.tuple(fc.constant(q), fc.constant(k), fc.array(embeddingBatch({ rows: 3, dim: q[0].length }), { minLength: q.length, maxLength: q.length })),
        ),
        temperature(),
        ([q, k, negs], tau) => {
          const ref = infoNceRef(q, k, negs, tau);
          expectClose(value(() => infoNceLoss(t2(q), t2(k), t3(negs), { temperature: tau })), ref, tol(ref, tau));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('equals log(1 + K exp(-s/tau)) with unit query, positive at similarity s and K orthogonal negatives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        temperature(),
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }), { minLength: 6, maxLength: 6 }),
        (k, s, tau, seeds) => {
          const basis = orthonormal(seeds.map((r, i) => r.map((x, j) => x + (i === j ? 3 : 0)))); // diagonally dominant: independent
          const [u, w, ...rest] = basis; // query u, positive s u + sqrt(1-s^2) w, negatives orthogonal to u
          const q = [u];
          const pos = [u.map((x, i) => s * x + Math.sqrt(1 - s * s) * w[i])];
          const negs = Array.from({ length: k }, (_, j) => rest[j % rest.length]);
          const expected = Math.log(1 + k * Math.exp(-s / tau));
          expectClose(value(() => infoNceLoss(t2(q), t2(pos), t2(negs), { temperature: tau })), expected, tol(expected, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('is finite with finite gradients at tau = 0.01, non-negative, and invariant under a permutation of the batch', () => {
    fc.assert(
      fc.property(
        embeddingPair({ rows: { min: 1, max: 5 }, dim: 4 }).chain(([q, k]) => fc.tuple(fc.constant([q, k]), embeddingBatch({ rows: { min: 1, max: 6 }, dim: 4 }), permutation(q.length))),
        temperature(),
        ([[q, k], queue, perm], tau) => {
          const [l, grads] = tf.tidy(() => {
            const { value: v, grads: g } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
              infoNceLoss(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, { temperature: 0.01 }),
            )([t2(q), t2(k), t2(queue)]);
            return [v.dataSync()[0], g.flatMap((x) => Array.from(x.dataSync()))] as const;
          });
          expect(Number.isFinite(l) && grads.every(Number.isFinite)).toBe(true);
          const l0 = value(() => infoNceLoss(t2(q), t2(k), t2(queue), { temperature: tau }));
          expect(l0).toBeGreaterThanOrEqual(-1e-6);
          const l1 = value(() => infoNceLoss(t2(permuteRows(q, perm)), t2(permuteRows(k, perm)), t2(queue), { temperature: tau }));
          expectClose(l1, l0, tol(l0, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('falls as the positive similarity rises, and sharpens with tau (queue kept off the test axes)', () => {
    // The kit keeps its varied pair in coordinates d-2, d-1 and its separated batch in the first
    // rows.max axes; a queue in the coordinates between is orthogonal to both.
    const queue = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0.6, 0.8, 0, 0]]); // [3, 9]
    const props = lossInvariantProperties((q, k, tau) => infoNceLoss(q, k, queue, { temperature: tau }), { dim: 9, rows: { min: 1, max: 5 } });
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    assertProperty('vanishesWhenSeparated', props.vanishesWhenSeparated, 5);
    queue.dispose();
  });

  it('has the gradient of the reference formula, for query, key and negatives', () => {
    fc.assert(
      fc.property(batch({ min: 1, max: 3 }, { min: 1, max: 4 }, { min: 1, max: 4 }).map((m) => m.map(liftRows)), temperature({ min: 0.1 }), ([q, k, queue], tau) => {
        expectGradientsMatch([q, k, queue], (a, b, c) => infoNceLoss(a, b, c, { temperature: tau }), (a, b, c) => infoNceRef(a, b, c, tau), tau);
      }),
      { numRuns: 20 },
    );
  });

  it('checks its arguments', () => {
    const q = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => infoNceLoss(q, q, tf.ones([4, 2]) as tf.Tensor2D)).toThrow(/infoNceLoss: argument 'negatives' must be \[K, 3\]/);
    expect(() => infoNceLoss(q, q, tf.ones([3, 4, 3]) as tf.Tensor3D)).toThrow(ArgumentError);
    expect(() => infoNceLoss(q, tf.ones([3, 3]) as tf.Tensor2D, q)).toThrow(/argument 'positiveKey'/);
    expect(() => infoNceLoss(q, q, q, { temperature: 0 })).toThrow(/argument 'config.temperature'/);
    q.dispose();
  });
});

describe('infoNceLossFromLogits', () => {
  beforeAll(useCpu);

  it('is the softmax cross-entropy of the given logits, positive in column 0 or per row', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((n) =>
          fc.integer({ min: 1, max: 6 }).chain((c) =>
            fc.tuple(
              fc.array(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: c, maxLength: c }), { minLength: n, maxLength: n }),
              fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
            ),
          ),
        ),
        ([logits, pos]) => {
          const ref0 = crossEntropyRef(logits, pos.map(() => 0));
          expectClose(value(() => infoNceLossFromLogits(t2(logits))), ref0, 1e-5 * (1 + Math.abs(ref0) + 50));
          const ref = crossEntropyRef(logits, pos);
          expectClose(noLeak(() => value(() => infoNceLossFromLogits(t2(logits), { positiveIndex: pos }))), ref, 1e-5 * (1 + Math.abs(ref) + 50));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('agrees with infoNceLoss when fed the same logits', () => {
    fc.assert(
      fc.property(batch({ min: 1, max: 4 }, { min: 2, max: 4 }, { min: 1, max: 5 }), temperature(), ([q, k, queue], tau) => {
        const viaLogits = value(() => {
          const [qn, kn, nn] = [q, k, queue].map((m) => tf.div(t2(m), tf.maximum(tf.norm(t2(m), 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
          const logits = tf.div(tf.concat([tf.sum(tf.mul(qn, kn), 1, true), tf.matMul(qn, nn, false, true)], 1), tau) as tf.Tensor2D;
          return infoNceLossFromLogits(logits);
        });
        const direct = value(() => infoNceLoss(t2(q), t2(k), t2(queue), { temperature: tau }));
        expectClose(viaLogits, direct, tol(direct, tau));
      }),
      { numRuns: 30 },
    );
  });

  it('checks positiveIndex', () => {
    const l = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => infoNceLossFromLogits(l, { positiveIndex: 3 })).toThrow(/infoNceLossFromLogits: argument 'config.positiveIndex' must be an integer in \[0, 3\)/);
    expect(() => infoNceLossFromLogits(l, { positiveIndex: [0] })).toThrow(/has 1 entries for 2 rows/);
    l.dispose();
  });
});
