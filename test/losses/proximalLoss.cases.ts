import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { proximalLoss } from '../../src/losses/proximalLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, permutation, permuteRows } from '../../src/testing/index.ts';
import { proximalRef } from './reference.ts';
import { expectClose, expectGradientsMatch, noLeak, t2, useCpu, value } from './support.ts';

const pair = embeddingBatch({ rows: { min: 1, max: 6 }, dim: { min: 1, max: 8 } }).chain((a) => fc.tuple(fc.constant(a), embeddingBatch({ rows: a.length, dim: a[0].length })));
const lambdas = fc.oneof(fc.constantFrom(0, 1, 30), fc.double({ min: 0, max: 100, noNaN: true }));

describe('proximalLoss', () => {
  beforeAll(useCpu);

  it('is lambda * mean_i ||v_i^t - v_i^{t-1}||^2 (slow loop), non-negative and permutation invariant', () => {
    fc.assert(
      fc.property(pair.chain(([a, b]) => fc.tuple(fc.constant([a, b]), permutation(a.length))), lambdas, ([[a, b], perm], lambda) => {
        const ref = proximalRef(a, b, lambda);
        const got = noLeak(() => value(() => proximalLoss(t2(a), t2(b), lambda)));
        expectClose(got, ref, 1e-5 * (1 + ref));
        expect(got).toBeGreaterThanOrEqual(0);
        expectClose(value(() => proximalLoss(t2(permuteRows(a, perm)), t2(permuteRows(b, perm)), lambda)), got, 1e-5 * (1 + ref));
      }),
      { numRuns: 50 },
    );
  });

  it('is 0 when the feature did not move and grows with the squared distance', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(value(() => proximalLoss(t2(a), t2(a), 30))).toBe(0);
        const far = value(() => proximalLoss(t2(a.map((r, i) => r.map((x, j) => x + 2 * (b[i][j] - x)))), t2(a), 1));
        expectClose(far, 4 * proximalRef(b, a, 1), 1e-4 * (1 + far));
      }),
      { numRuns: 20 },
    );
  });

  it('has the gradient 2 lambda (v^t - v^{t-1}) / B of the formula', () => {
    fc.assert(
      fc.property(pair, lambdas, ([a, b], lambda) => {
        expectGradientsMatch([a, b], (x, y) => proximalLoss(x, y, lambda), (x, y) => proximalRef(x, y, lambda), 1 + lambda);
      }),
      { numRuns: 20 },
    );
  });

  it('checks its arguments', () => {
    const a = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => proximalLoss(a, a, -1)).toThrow(/proximalLoss: argument 'lambda' must be a finite number >= 0/);
    expect(() => proximalLoss(a, a, Number.NaN)).toThrow(ArgumentError);
    expect(() => proximalLoss(a, tf.ones([2, 4]) as tf.Tensor2D, 1)).toThrow(/argument 'vOld'/);
    a.dispose();
  });
});
