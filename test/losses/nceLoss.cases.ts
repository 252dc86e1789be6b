import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { estimateNceNormalizer, nceLoss } from '../../src/losses/nceLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, embeddingPair, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { nceNormalizerRef, nceRef } from './reference.ts';
import { assertProperty, liftRows, expectClose, expectGradientsMatch, noLeak, orthonormal, t2, t3, tol, useCpu, value } from './support.ts';

/** features, positives [B][D], shared negatives [K][D], a normaliser Z and a dataset size n. */
const inputs = (b: { min: number; max: number }, d: { min: number; max: number }, k: { min: number; max: number }) =>
  embeddingBatch({ rows: b, dim: d }).chain((v) =>
    fc.tuple(
      fc.constant(v),
      embeddingBatch({ rows: v.length, dim: v[0].length }),
      embeddingBatch({ rows: k, dim: v[0].length }),
      fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
      fc.integer({ min: 8, max: 100_000 }),
    ),
  );

describe('nceLoss', () => {
  beforeAll(useCpu);

  it('matches the slow loop of InstDisc NCE (h = P/(P + K/n), P = exp(v.f/tau)/Z), shared negatives, tau down to 0.01', () => {
    fc.assert(
      fc.property(inputs({ min: 1, max: 5 }, { min: 1, max: 6 }, { min: 1, max: 8 }), temperature(), ([v, f, negs, z, n], tau) => {
        const ref = nceRef(v, f, negs, tau, z, n);
        expectClose(noLeak(() => value(() => nceLoss(t2(v), t2(f), t2(negs), { normalizer: z, datasetSize: n, temperature: tau }))), ref, tol(ref, tau, 2));
      }),
      { numRuns: 60 },
    );
  });

  it('matches the slow loop with per-instance negatives [B, K, D]', () => {
    fc.assert(
      fc.property(
        inputs({ min: 1, max: 4 }, { min: 1, max: 5 }, { min: 1, max: 1 }).chain(([v, f, , z, n]) =>
          fc.tuple(fc.constant([v, f, z, n] as const), fc.array(embeddingBatch({ rows: 3, dim: v[0].length }), { minLength: v.length, maxLength: v.length })),
        ),
        temperature(),
        ([[v, f, z, n], negs], tau) => {
          const ref = nceRef(v, f, negs, tau, z, n);
          expectClose(value(() => nceLoss(t2(v), t2(f), t3(negs), { normalizer: z, datasetSize: n, temperature: tau })), ref, tol(ref, tau, 2));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('estimateNceNormalizer is n * mean exp(v.f/tau) over positives and negatives', () => {
    fc.assert(
      fc.property(inputs({ min: 1, max: 5 }, { min: 1, max: 6 }, { min: 1, max: 8 }), temperature(), ([v, f, negs, , n], tau) => {
        const ref = nceNormalizerRef(v, f, negs, tau, n);
        const got = noLeak(() => tf.tidy(() => estimateNceNormalizer(t2(v), t2(f), t2(negs), { datasetSize: n, temperature: tau })));
        expect(Math.abs(Math.log(got) - Math.log(ref))).toBeLessThan(2e-6 * (1 + 1 / tau));
      }),
      { numRuns: 40 },
    );
  });

  it('has the closed form with orthogonal negatives: log(1 + (KZ/n) e^{-s/tau}) + K log(1 + n/(KZ))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        temperature(),
        fc.double({ min: 1, max: 1e5, noNaN: true }),
        fc.integer({ min: 10, max: 10_000 }),
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }), { minLength: 6, maxLength: 6 }),
        (k, s, tau, z, n, seeds) => {
          const [u, w, ...rest] = orthonormal(seeds.map((r, i) => r.map((x, j) => x + (i === j ? 3 : 0))));
          const pos = u.map((x, i) => s * x + Math.sqrt(1 - s * s) * w[i]);
          const negs = Array.from({ length: k }, (_, j) => rest[j % rest.length]);
          const c = (k * z) / n;
          const expected = Math.log1p(c * Math.exp(-s / tau)) + k * Math.log1p(1 / c);
          expectClose(value(() => nceLoss(t2([u]), t2([pos]), t2(negs), { normalizer: z, datasetSize: n, temperature: tau })), expected, tol(expected, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('is finite (with the Z it estimates) at tau = 0.01, non-negative and permutation invariant', () => {
    fc.assert(
      fc.property(
        embeddingPair({ rows: { min: 1, max: 5 }, dim: 4 }).chain(([v, f]) => fc.tuple(fc.constant([v, f]), embeddingBatch({ rows: { min: 1, max: 6 }, dim: 4 }), permutation(v.length))),
        temperature(),
        ([[v, f], negs, perm], tau) => {
          const n = 1000;
          const z01 = tf.tidy(() => estimateNceNormalizer(t2(v), t2(f), t2(negs), { datasetSize: n, temperature: 0.01 }));
          const [l, g] = tf.tidy(() => {
            const { value: val, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) =>
              nceLoss(a as tf.Tensor2D, b as tf.Tensor2D, t2(negs), { normalizer: z01, datasetSize: n, temperature: 0.01 }),
            )([t2(v), t2(f)]);
            return [val.dataSync()[0], grads.flatMap((x) => Array.from(x.dataSync()))] as const;
          });
          expect(Number.isFinite(l) && g.every(Number.isFinite)).toBe(true);
          const z = tf.tidy(() => estimateNceNormalizer(t2(v), t2(f), t2(negs), { datasetSize: n, temperature: tau }));
          const l0 = value(() => nceLoss(t2(v), t2(f), t2(negs), { normalizer: z, datasetSize: n, temperature: tau }));
          expect(l0).toBeGreaterThanOrEqual(-1e-6);
          const l1 = value(() => nceLoss(t2(permuteRows(v, perm)), t2(permuteRows(f, perm)), t2(negs), { normalizer: z, datasetSize: n, temperature: tau }));
          expectClose(l1, l0, tol(l0, tau));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('falls as the positive similarity rises and rises with tau (fixed Z, noise off the test axes)', () => {
    const negs = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0, 0]]); // [2, 9]
    const props = lossInvariantProperties((v, f, tau) => nceLoss(v, f, negs, { normalizer: 50, datasetSize: 100, temperature: tau }), { dim: 9 });
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    negs.dispose();
  });

  it('has the gradient of the reference formula (features, positives and negatives)', () => {
    fc.assert(
      fc.property(inputs({ min: 1, max: 3 }, { min: 1, max: 4 }, { min: 1, max: 4 }).map(([v, f, negs, z, n]) => [liftRows(v), liftRows(f), liftRows(negs), z, n] as const), temperature({ min: 0.1 }), ([v, f, negs, z, n], tau) => {
        expectGradientsMatch([v, f, negs], (a, b, c) => nceLoss(a, b, c, { normalizer: z, datasetSize: n, temperature: tau }), (a, b, c) => nceRef(a, b, c, tau, z, n), tau);
      }),
      { numRuns: 20 },
    );
  });

  it('checks its arguments', () => {
    const v = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => nceLoss(v, v, v, { normalizer: 0, datasetSize: 10 })).toThrow(/nceLoss: argument 'config.normalizer' must be a finite number > 0/);
    expect(() => nceLoss(v, v, v, { normalizer: 1, datasetSize: 0 })).toThrow(/nceLoss: argument 'config.datasetSize'/);
    expect(() => nceLoss(v, v, v, {} as never)).toThrow(ArgumentError);
    expect(() => nceLoss(v, v, tf.ones([2, 4]) as tf.Tensor2D, { normalizer: 1, datasetSize: 10 })).toThrow(/argument 'negatives'/);
    expect(() => estimateNceNormalizer(v, v, v, { datasetSize: 10, temperature: -1 })).toThrow(/estimateNceNormalizer: argument 'config.temperature'/);
    expect(() => estimateNceNormalizer(v, v, v, { datasetSize: 10, temperature: 1e-4 })).toThrow(/not representable/);
    v.dispose();
  });
});
