import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { cpcInfoNceLoss } from '../../src/losses/cpcInfoNceLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, embeddingPair, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { cpcRef, type Mat } from './reference.ts';
import { assertProperty, liftRows, expectClose, expectGradientsMatch, noLeak, orthonormal, t2, tol, useCpu, value } from './support.ts';

/** S offsets, each with its own number of rows R_k, sharing D; entries scaled to |dot| <= 1. */
const offsets = fc.integer({ min: 1, max: 6 }).chain((d) =>
  fc.array(
    embeddingBatch({ rows: { min: 1, max: 5 }, dim: d }).chain((p) => fc.tuple(fc.constant(p), embeddingBatch({ rows: p.length, dim: d }))),
    { minLength: 1, maxLength: 3 },
  ).map((pairs) => pairs.map(([p, t]) => [p.map((r) => r.map((x) => x / Math.sqrt(d))), t.map((r) => r.map((x) => x / Math.sqrt(d)))] as [Mat, Mat])),
);

const loss = (preds: Mat[], targets: Mat[], tau: number, normalize = false) =>
  value(() => cpcInfoNceLoss(preds.map(t2), targets.map(t2), { temperature: tau, normalize }));

describe('cpcInfoNceLoss', () => {
  beforeAll(useCpu);

  it('matches the slow loop of CPC Eq. 4, averaged over offsets with different row counts, tau down to 0.01', () => {
    fc.assert(
      fc.property(offsets, temperature(), fc.boolean(), (pairs, tau, normalize) => {
        const preds = pairs.map((p) => p[0]);
        const targets = pairs.map((p) => p[1]);
        const ref = cpcRef(preds, targets, tau, normalize);
        expectClose(noLeak(() => loss(preds, targets, tau, normalize)), ref, tol(ref, tau, 2));
      }),
      { numRuns: 60 },
    );
  });

  it('accepts a single [R, D] pair, the same as a one-offset array', () => {
    fc.assert(
      fc.property(offsets, ([[p, t]]) => {
        const single = value(() => cpcInfoNceLoss(t2(p), t2(t)));
        expectClose(single, loss([p], [t], 1), 1e-6);
        expectClose(single, cpcRef([p], [t], 1), tol(single, 1));
      }),
      { numRuns: 20 },
    );
  });

  it('equals log(e^{1/tau} + R - 1) - 1/tau when predictions hit their orthonormal targets exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        temperature(),
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }), { minLength: 6, maxLength: 6 }),
        (r, tau, seeds) => {
          const basis = orthonormal(seeds.map((row, i) => row.map((x, j) => x + (i === j ? 3 : 0)))).slice(0, r);
          const expected = Math.log(Math.exp(1 / tau) + r - 1) - 1 / tau;
          expectClose(loss([basis], [basis], tau), expected, tol(expected, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('is finite with finite gradients at tau = 0.01, non-negative, and invariant under a permutation of the rows', () => {
    fc.assert(
      fc.property(
        embeddingPair({ rows: { min: 1, max: 6 }, dim: 4 }).chain(([p, t]) => fc.tuple(fc.constant([p, t]), permutation(p.length))),
        temperature(),
        fc.boolean(),
        ([[p, t], perm], tau, normalize) => {
          const [l, g] = tf.tidy(() => {
            const { value: v, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
              cpcInfoNceLoss(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.01, normalize }),
            )([t2(p), t2(t)]);
            return [v.dataSync()[0], grads.flatMap((x) => Array.from(x.dataSync()))] as const;
          });
          expect(Number.isFinite(l) && g.every(Number.isFinite)).toBe(true);
          const l0 = loss([p], [t], tau, normalize);
          expect(l0).toBeGreaterThanOrEqual(-1e-6);
          expectClose(loss([permuteRows(p, perm)], [permuteRows(t, perm)], tau, normalize), l0, tol(l0, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('falls as a prediction gets closer to its target and sharpens with tau', () => {
    const props = lossInvariantProperties((p, t, tau) => cpcInfoNceLoss(p, t, { temperature: tau })); // N >= 2: one row has no negatives
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    assertProperty('vanishesWhenSeparated', props.vanishesWhenSeparated, 5);
  });

  it('has the gradient of the reference formula (finite differences), with and without normalisation', () => {
    fc.assert(
      fc.property(offsets.map((o) => [liftRows(o[0][0].slice(0, 4)), liftRows(o[0][1].slice(0, 4))] as [Mat, Mat]), temperature({ min: 0.1 }), fc.boolean(), ([p, t], tau, normalize) => {
        expectGradientsMatch([p, t], (a, b) => cpcInfoNceLoss(a, b, { temperature: tau, normalize }), (a, b) => cpcRef([a], [b], tau, normalize), tau);
      }),
      { numRuns: 20 },
    );
  });

  it('checks its arguments', () => {
    const a = tf.ones([3, 4]) as tf.Tensor2D;
    const b = tf.ones([2, 4]) as tf.Tensor2D;
    const c = tf.ones([2, 5]) as tf.Tensor2D;
    expect(() => cpcInfoNceLoss(a, b)).toThrow(/cpcInfoNceLoss: argument 'targets'/);
    expect(() => cpcInfoNceLoss([a, c], [a, c])).toThrow(/argument 'predictions\[1\]' has 5 columns/);
    expect(() => cpcInfoNceLoss([a], [a, b])).toThrow(/has 2 offsets but predictions has 1/);
    expect(() => cpcInfoNceLoss([], [])).toThrow(ArgumentError);
    expect(() => cpcInfoNceLoss(a, [a])).toThrow(/must be an array exactly when predictions is one/);
    expect(() => cpcInfoNceLoss(a, a, { temperature: 0 })).toThrow(/argument 'config.temperature'/);
    tf.dispose([a, b, c]);
  });
});
