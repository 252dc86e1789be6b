import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { cmcLoss, estimateCmcNormalizers, type CmcMemory } from '../../src/losses/cmcLoss.ts';
import { infoNceLoss } from '../../src/losses/infoNceLoss.ts';
import { ArgumentError } from '../../src/errors.ts';
import { embeddingBatch, lossInvariantProperties, permutation, permuteRows, temperature } from '../../src/testing/index.ts';
import { cmcRef, nceNormalizerRef, type Mat } from './reference.ts';
import { assertProperty, expectClose, expectGradientsMatch, liftRows, noLeak, orthonormal, t2, t3, tol, useCpu, value } from './support.ts';

interface Case {
  features: Mat[]; // M x [B][D]
  positives: Mat[]; // M x [B][D]
  negatives: (Mat | Mat[])[]; // M x ([K][D] | [B][K][D])
  z: number[][];
  n: number;
}

const cases = (views: { min: number; max: number }, b: { min: number; max: number }, d: { min: number; max: number }) =>
  fc.record({ m: fc.integer(views), b: fc.integer(b), d: fc.integer(d), k: fc.integer({ min: 1, max: 4 }), perSample: fc.boolean() }).chain(({ m, b: rows, d: dim, k, perSample }) =>
    fc.record({
      features: fc.array(embeddingBatch({ rows, dim }), { minLength: m, maxLength: m }),
      positives: fc.array(embeddingBatch({ rows, dim }), { minLength: m, maxLength: m }),
      negatives: fc.array((perSample ? fc.array(embeddingBatch({ rows: k, dim }), { minLength: rows, maxLength: rows }) : embeddingBatch({ rows: k, dim })) as fc.Arbitrary<Mat | Mat[]>, { minLength: m, maxLength: m }),
      z: fc.array(fc.array(fc.double({ min: 1e-2, max: 1e5, noNaN: true }), { minLength: m, maxLength: m }), { minLength: m, maxLength: m }),
      n: fc.integer({ min: 10, max: 10_000 }),
    }) as fc.Arbitrary<Case>,
  );

const isPerSample = (x: Mat | Mat[]): x is Mat[] => Array.isArray(x[0][0]);
const memoryOf = (c: Case): CmcMemory => ({ positives: c.positives.map(t2), negatives: c.negatives.map((x) => (isPerSample(x) ? t3(x) : t2(x))) });

describe('cmcLoss', () => {
  beforeAll(useCpu);

  it('matches the slow loop for both forms and both paradigms, shared or per-sample negatives, tau down to 0.01', () => {
    fc.assert(
      fc.property(
        cases({ min: 2, max: 3 }, { min: 1, max: 4 }, { min: 1, max: 5 }),
        fc.constantFrom('nce' as const, 'softmax' as const),
        fc.constantFrom('full' as const, 'core' as const),
        temperature(),
        (c, form, paradigm, tau) => {
          const core = c.features.length - 1;
          const ref = cmcRef(c.features, c, { form, tau, paradigm, core, z: c.z, n: c.n });
          const got = noLeak(() =>
            value(() => cmcLoss(c.features.map(t2), memoryOf(c), { form, paradigm, coreView: core, temperature: tau, normalizers: c.z, datasetSize: c.n })),
          );
          expectClose(got, ref, tol(ref, tau, 4 * c.features.length));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('contrasts within the batch without a memory (softmax form)', () => {
    fc.assert(
      fc.property(cases({ min: 2, max: 4 }, { min: 1, max: 4 }, { min: 1, max: 5 }), temperature(), (c, tau) => {
        const ref = cmcRef(c.features, undefined, { form: 'softmax', tau });
        expectClose(value(() => cmcLoss(c.features.map(t2), undefined, { form: 'softmax', temperature: tau })), ref, tol(ref, tau, 4 * c.features.length));
      }),
      { numRuns: 40 },
    );
  });

  it('is, for two views, the symmetric sum of InfoNCE in both directions (L(V1,V2) = L^{1->2} + L^{2->1})', () => {
    fc.assert(
      fc.property(cases({ min: 2, max: 2 }, { min: 1, max: 4 }, { min: 1, max: 5 }), temperature(), (c, tau) => {
        const got = value(() => cmcLoss(c.features.map(t2), memoryOf(c), { form: 'softmax', temperature: tau }));
        const mem = memoryOf(c);
        const sum = value(() =>
          tf.add(
            infoNceLoss(t2(c.features[0]), mem.positives[1], mem.negatives[1], { temperature: tau }),
            infoNceLoss(t2(c.features[1]), mem.positives[0], mem.negatives[0], { temperature: tau }),
          ) as tf.Scalar,
        );
        tf.dispose([...mem.positives, ...mem.negatives]);
        expectClose(got, sum, tol(sum, tau, 4));
      }),
      { numRuns: 30 },
    );
  });

  it('has the closed form 2 log(1 + K e^{-1/tau}) for two views whose bank rows equal the features and orthogonal negatives', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        temperature(),
        fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }), { minLength: 6, maxLength: 6 }),
        (k, tau, seeds) => {
          const basis = orthonormal(seeds.map((r, i) => r.map((x, j) => x + (i === j ? 3 : 0))));
          const f = [[basis[0]], [basis[0]]]; // both views of the one sample agree exactly
          const negs = basis.slice(1, 1 + k);
          const expected = 2 * Math.log1p(k * Math.exp(-1 / tau));
          const got = value(() => cmcLoss(f.map(t2), { positives: f.map(t2), negatives: [t2(negs), t2(negs)] }, { form: 'softmax', temperature: tau }));
          expectClose(got, expected, tol(expected, tau));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('estimateCmcNormalizers gives Z_ij = n mean exp(v_i.f_j/tau) for every direction', () => {
    fc.assert(
      fc.property(cases({ min: 2, max: 3 }, { min: 1, max: 4 }, { min: 1, max: 5 }), temperature(), (c, tau) => {
        const mem = memoryOf(c);
        const z = noLeak(() => tf.tidy(() => estimateCmcNormalizers(c.features.map(t2), mem, { temperature: tau, datasetSize: c.n })));
        tf.dispose([...mem.positives, ...mem.negatives]);
        z.forEach((row, i) =>
          row.forEach((zij, j) => {
            if (i === j) return expect(zij).toBeNaN();
            const ref = nceNormalizerRef(c.features[i], c.positives[j], c.negatives[j], tau, c.n);
            expect(Math.abs(Math.log(zij) - Math.log(ref))).toBeLessThan(2e-6 * (1 + 1 / tau));
          }),
        );
      }),
      { numRuns: 30 },
    );
  });

  it('is finite with finite gradients at tau = 0.01 (NCE with estimated Z), non-negative, and permutation invariant', () => {
    fc.assert(
      fc.property(
        cases({ min: 2, max: 3 }, { min: 2, max: 4 }, { min: 2, max: 4 }).chain((c) => fc.tuple(fc.constant(c), permutation(c.features[0].length))),
        fc.constantFrom('nce' as const, 'softmax' as const),
        temperature(),
        ([c, perm], form, tau) => {
          const shared = { ...c, negatives: c.negatives.map((x) => (isPerSample(x) ? x[0] : x)) }; // permuting rows needs shared negatives
          const mem = memoryOf(shared);
          const z01 = estimateCmcNormalizers(c.features.map(t2), mem, { temperature: 0.01, datasetSize: c.n });
          const [l, g] = tf.tidy(() => {
            const f = (...xs: tf.Tensor[]) => cmcLoss(xs as tf.Tensor2D[], mem, { form, temperature: 0.01, normalizers: z01, datasetSize: c.n });
            const { value: v, grads } = tf.valueAndGrads(f)(c.features.map(t2));
            return [v.dataSync()[0], grads.flatMap((x) => Array.from(x.dataSync()))] as const;
          });
          expect(Number.isFinite(l) && g.every(Number.isFinite)).toBe(true);
          const z = estimateCmcNormalizers(c.features.map(t2), mem, { temperature: tau, datasetSize: c.n });
          const cfg = { form, temperature: tau, normalizers: z, datasetSize: c.n };
          const l0 = value(() => cmcLoss(c.features.map(t2), mem, cfg));
          expect(l0).toBeGreaterThanOrEqual(-1e-6);
          const pMem = { positives: shared.positives.map((p) => t2(permuteRows(p, perm))), negatives: mem.negatives };
          const l1 = value(() => cmcLoss(c.features.map((f) => t2(permuteRows(f, perm))), pMem, cfg));
          expectClose(l1, l0, tol(l0, tau, 4 * c.features.length));
          tf.dispose([...mem.positives, ...mem.negatives, ...pMem.positives]);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('falls as the two views of a sample agree more, and sharpens with tau (in-batch softmax)', () => {
    const props = lossInvariantProperties((a, b, tau) => cmcLoss([a, b], undefined, { form: 'softmax', temperature: tau }));
    assertProperty('monotonicInPositive', props.monotonicInPositive, 30);
    assertProperty('temperatureMonotone', props.temperatureMonotone, 5);
    assertProperty('vanishesWhenSeparated', props.vanishesWhenSeparated, 5);
  });

  it('has the gradient of the reference formula for features and bank rows (both forms)', () => {
    fc.assert(
      fc.property(
        cases({ min: 2, max: 2 }, { min: 1, max: 3 }, { min: 1, max: 3 }).map((c) => ({
          ...c,
          features: c.features.map(liftRows),
          positives: c.positives.map(liftRows),
          negatives: c.negatives.map((x) => liftRows(isPerSample(x) ? x[0] : x)),
        })),
        fc.constantFrom('nce' as const, 'softmax' as const),
        temperature({ min: 0.1 }),
        (c, form, tau) => {
          const cfg = { form, tau, z: c.z, n: c.n };
          expectGradientsMatch(
            [...c.features, ...c.positives, ...(c.negatives as Mat[])],
            (f0, f1, p0, p1, n0, n1) => cmcLoss([f0, f1], { positives: [p0, p1], negatives: [n0, n1] }, { form, temperature: tau, normalizers: c.z, datasetSize: c.n }),
            (f0, f1, p0, p1, n0, n1) => cmcRef([f0, f1], { positives: [p0, p1], negatives: [n0, n1] }, cfg),
            tau,
          );
        },
      ),
      { numRuns: 15 },
    );
  });

  it('checks its arguments', () => {
    const f = tf.ones([2, 3]) as tf.Tensor2D;
    const mem = { positives: [f, f], negatives: [f, f] };
    expect(() => cmcLoss([f], undefined, { form: 'softmax' })).toThrow(/cmcLoss: argument 'features' needs at least 2 views/);
    expect(() => cmcLoss([f, f], undefined)).toThrow(/argument 'memory' is required by the NCE form/);
    expect(() => cmcLoss([f, f], mem, { datasetSize: 10 })).toThrow(/argument 'config.normalizers'/);
    expect(() => cmcLoss([f, f], mem, { datasetSize: 10, normalizers: [[0, 1], [0, 1]] })).toThrow(/argument 'config.normalizers\[1\]\[0\]'/);
    expect(() => cmcLoss([f, f], { positives: [f], negatives: [f, f] }, { form: 'softmax' })).toThrow(/argument 'memory.positives'/);
    expect(() => cmcLoss([f, tf.ones([3, 3]) as tf.Tensor2D], undefined, { form: 'softmax' })).toThrow(ArgumentError);
    expect(() => cmcLoss([f, f], undefined, { form: 'softmax', paradigm: 'core', coreView: 2 })).toThrow(/argument 'config.coreView'/);
    expect(() => cmcLoss([f, f], undefined, { form: 'bogus' as never })).toThrow(/argument 'config.form'/);
    f.dispose();
  });
});
