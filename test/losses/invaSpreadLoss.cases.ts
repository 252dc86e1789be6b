import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { invaSpreadLoss } from '../../src/losses/invaSpreadLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, embeddingPair, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { invaSpreadRef } from './reference.ts';
import { assertProperty, liftRows, expectClose, expectGradientsMatch, noLeak, t2, tol, useCpu, value } from './support.ts';

const loss = (a: number[][], b: number[][], tau: number, normalize = true) => value(() => invaSpreadLoss(t2(a), t2(b), { temperature: tau, normalize }));
const randomPair = embeddingBatch({ rows: { min: 2, max: 5 }, dim: { min: 1, max: 6 } }).chain((a) =>
  fc.tuple(fc.constant(a), embeddingBatch({ rows: a.length, dim: a[0].length })),
);
const anyPair = fc.oneof(randomPair, embeddingPair({ rows: { min: 2, max: 5 }, dim: { min: 1, max: 6 } }));

describe('invaSpreadLoss', () => {
  beforeAll(useCpu);

  it("matches the slow loop of Ye et al.'s softmax + independence form, random and saturating batches, tau down to 0.01", () => {
    fc.assert(
      fc.property(anyPair, temperature(), ([a, b], tau) => {
        const ref = invaSpreadRef(a, b, tau);
        expectClose(noLeak(() => loss(a, b, tau)), ref, tol(ref, tau, 4));
      }),
      { numRuns: 80 },
    );
  });

  it('matches the reference without normalisation', () => {
    fc.assert(
      fc.property(randomPair, temperature({ min: 0.2 }), ([a, b], tau) => {
        const ref = invaSpreadRef(a, b, tau, false);
        expectClose(loss(a, b, tau, false), ref, tol(ref, tau, 10));
      }),
      { numRuns: 30 },
    );
  });

  it('computes log(1 - P) exactly when one negative takes almost all of the mass (tau = 0.01)', () => {
    // Anchor row 0 of z1 equals row 1 of z1 (a negative); its positive points the other way.
    const z1 = [[1, 0], [1, 0]];
    const z2 = [[-1, 0], [0, 1]];
    const ref = invaSpreadRef(z1, z2, 0.01);
    const got = loss(z1, z2, 0.01);
    expect(Number.isFinite(got)).toBe(true);
    expectClose(got, ref, 1e-4 * Math.abs(ref));
    // Here P(negative | anchor) = 1 - O(e^-100): a naive log(1 - P) in float32 would be -Infinity.
    expect(ref).toBeGreaterThan(100);
  });

  it('has the closed form log(2B-1) - 2(B-1) log((2B-2)/(2B-1)) when all embeddings are equal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 5 }), temperature(), (b, d, tau) => {
        const same = Array.from({ length: b }, () => Array.from({ length: d }, (_, i) => i + 1));
        const expected = Math.log(2 * b - 1) - 2 * (b - 1) * Math.log((2 * b - 2) / (2 * b - 1));
        expectClose(loss(same, same, tau), expected, 1e-5 * (1 + expected + 1 / tau));
      }),
      { numRuns: 30 },
    );
  });

  it('is finite with finite gradients at tau = 0.01, non-negative, and permutation invariant', () => {
    fc.assert(
      fc.property(anyPair.chain(([a, b]) => fc.tuple(fc.constant([a, b]), permutation(a.length))), temperature(), ([[a, b], perm], tau) => {
        const [l, g] = tf.tidy(() => {
          const { value: v, grads } = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => invaSpreadLoss(x as tf.Tensor2D, y as tf.Tensor2D, { temperature: 0.01 }))([t2(a), t2(b)]);
          return [v.dataSync()[0], grads.flatMap((x) => Array.from(x.dataSync()))] as const;
        });
        expect(Number.isFinite(l) && g.every(Number.isFinite)).toBe(true);
        const l0 = loss(a, b, tau);
        expect(l0).toBeGreaterThanOrEqual(-1e-6);
        expectClose(loss(permuteRows(a, perm), permuteRows(b, perm), tau), l0, tol(l0, tau, 4));
      }),
      { numRuns: 40 },
    );
  });

  it('falls as the positive similarity rises and sharpens with tau', () => {
    const props = lossInvariantProperties((a, b, tau) => invaSpreadLoss(a, b, { temperature: tau }));
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    assertProperty('vanishesWhenSeparated', props.vanishesWhenSeparated, 5);
  });

  it('has the gradient of the reference formula (finite differences)', () => {
    fc.assert(
      fc.property(randomPair.map(([a, b]) => [liftRows(a.slice(0, 4)), liftRows(b.slice(0, 4))]), temperature({ min: 0.1 }), ([a, b], tau) => {
        expectGradientsMatch([a, b], (x, y) => invaSpreadLoss(x, y, { temperature: tau }), (x, y) => invaSpreadRef(x, y, tau), tau);
      }),
      { numRuns: 20 },
    );
  });

  it('checks its arguments', () => {
    const one = tf.ones([1, 3]) as tf.Tensor2D;
    const two = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => invaSpreadLoss(one, one)).toThrow(/invaSpreadLoss: argument 'z1' needs at least 2 rows/);
    expect(() => invaSpreadLoss(two, one)).toThrow(ArgumentError);
    expect(() => invaSpreadLoss(two, two, { temperature: Infinity })).toThrow(/argument 'config.temperature'/);
    tf.dispose([one, two]);
  });
});
