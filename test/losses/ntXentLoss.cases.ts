import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ntXentLoss } from '../../src/losses/ntXentLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, embeddingPair, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { ntXentRef } from './reference.ts';
import { assertProperty, liftRows, expectClose, expectGradientsMatch, noLeak, t2, tol, useCpu, value } from './support.ts';

const pairOf = (rows: { min: number; max: number }, dim: { min: number; max: number }) =>
  embeddingBatch({ rows, dim }).chain((a) => fc.tuple(fc.constant(a), embeddingBatch({ rows: a.length, dim: a[0].length })));
const loss = (a: number[][], b: number[][], tau: number, normalize = true) => value(() => ntXentLoss(t2(a), t2(b), { temperature: tau, normalize }));

describe('ntXentLoss', () => {
  beforeAll(useCpu);

  it('matches the slow loop from SimCLR Eq. 1 on random batches, any N and D, tau down to 0.01', () => {
    fc.assert(
      fc.property(pairOf({ min: 1, max: 5 }, { min: 1, max: 6 }), temperature(), ([a, b], tau) => {
        const ref = ntXentRef(a, b, tau);
        expectClose(noLeak(() => loss(a, b, tau)), ref, tol(ref, tau));
      }),
      { numRuns: 60 },
    );
  });

  it('uses the plain dot product with normalize: false', () => {
    fc.assert(
      fc.property(pairOf({ min: 1, max: 4 }, { min: 1, max: 5 }), temperature({ min: 0.1 }), ([a, b], tau) => {
        const ref = ntXentRef(a, b, tau, false);
        expectClose(loss(a, b, tau, false), ref, tol(ref, tau, 5));
      }),
      { numRuns: 30 },
    );
  });

  it('equals log(2N - 1) when all 2N embeddings are identical, whatever tau and D', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 6 }), temperature(), embeddingBatch({ rows: 1, dim: 6 }), (n, d, tau, [row]) => {
        const v = row.slice(0, d).map((x, i) => (i === 0 ? x + 2 : x)); // away from 0
        const same = Array.from({ length: n }, () => v);
        expectClose(loss(same, same, tau), Math.log(2 * n - 1), 1e-5 * (1 + 1 / tau));
      }),
      { numRuns: 40 },
    );
  });

  it('is finite, with finite gradients, at tau = 0.01 on saturating batches', () => {
    fc.assert(
      fc.property(embeddingPair({ rows: { min: 1, max: 5 }, dim: { min: 1, max: 6 } }), ([a, b]) => {
        const [l, ga, gb] = tf.tidy(() => {
          const { value: v, grads } = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => ntXentLoss(x as tf.Tensor2D, y as tf.Tensor2D, { temperature: 0.01 }))([t2(a), t2(b)]);
          return [v.dataSync()[0], Array.from(grads[0].dataSync()), Array.from(grads[1].dataSync())];
        });
        expect(Number.isFinite(l)).toBe(true);
        expect([...ga, ...gb].every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('is non-negative', () => {
    fc.assert(fc.property(embeddingPair({ rows: { min: 1, max: 5 } }), temperature(), ([a, b], tau) => loss(a, b, tau) >= -1e-6), { numRuns: 40 });
  });

  it('is invariant under a permutation of the batch', () => {
    fc.assert(
      fc.property(
        embeddingPair({ rows: { min: 2, max: 6 } }).chain(([a, b]) => fc.tuple(fc.constant([a, b]), permutation(a.length))),
        temperature(),
        ([[a, b], perm], tau) => {
          const l0 = loss(a, b, tau);
          expectClose(loss(permuteRows(a, perm), permuteRows(b, perm), tau), l0, tol(l0, tau));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('falls as the similarity of a positive pair rises (others fixed), and depends on tau as a softmax', () => {
    const props = lossInvariantProperties((a, b, tau) => ntXentLoss(a, b, { temperature: tau }));
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    assertProperty('vanishesWhenSeparated', props.vanishesWhenSeparated, 5);
  });

  it('has the gradient of the reference formula (finite differences)', () => {
    fc.assert(
      fc.property(pairOf({ min: 1, max: 4 }, { min: 1, max: 4 }).map(([a, b]) => [liftRows(a), liftRows(b)]), temperature({ min: 0.1, max: 1 }), ([a, b], tau) => {
        expectGradientsMatch([a, b], (x, y) => ntXentLoss(x, y, { temperature: tau }), (x, y) => ntXentRef(x, y, tau), tau);
      }),
      { numRuns: 20 },
    );
  });

  it('works under tf.variableGrads', () => {
    const w = tf.variable(tf.tensor2d([[1, 0.5], [0.2, -1]]));
    const x = tf.tensor2d([[1, 2], [3, -1], [0.5, 0.5]]);
    const y = tf.tensor2d([[1.1, 2], [2.5, -1], [0.4, 0.7]]);
    const { value: v, grads } = tf.variableGrads(() => ntXentLoss(tf.matMul(x, w), tf.matMul(y, w)));
    expect(Number.isFinite(v.dataSync()[0])).toBe(true);
    expect(Array.from(grads[w.name].dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([w, x, y, v, grads[w.name]]);
  });

  it('checks its arguments up front, naming the function and the argument', () => {
    const a = tf.ones([3, 4]) as tf.Tensor2D;
    const b = tf.ones([2, 4]) as tf.Tensor2D;
    expect(() => ntXentLoss(a, b)).toThrow(ArgumentError);
    expect(() => ntXentLoss(a, b)).toThrow(/ntXentLoss: argument 'z2'/);
    expect(() => ntXentLoss(a, a, { temperature: 0 })).toThrow(/ntXentLoss: argument 'config.temperature' must be a finite number > 0/);
    expect(() => ntXentLoss(a, a, { temperature: -1 })).toThrow(ArgumentError);
    expect(() => ntXentLoss(a, a, { temperature: Number.NaN })).toThrow(ArgumentError);
    expect(() => ntXentLoss(tf.ones([3]) as unknown as tf.Tensor2D, a)).toThrow(/argument 'z1' must have rank 2/);
    expect(() => ntXentLoss(a, tf.ones([3, 4], 'int32') as tf.Tensor2D)).toThrow(/argument 'z2' must be float32/);
    tf.dispose([a, b]);
  });
});
