import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkLossInvariants,
  embeddingBatch,
  embeddingPair,
  permutation,
  temperature,
  unitEmbeddingBatch,
  type InvariantName,
  type PairLoss,
} from '../../src/testing/index.ts';
import { LossInvariantError } from '../../src/errors.ts';
import { ntXentLoss } from '../../src/losses/ntXentLoss.ts';
import { infoNceLoss } from '../../src/losses/infoNceLoss.ts';
import { invaSpreadLoss } from '../../src/losses/invaSpreadLoss.ts';
import { nceLoss } from '../../src/losses/nceLoss.ts';
import { cpcInfoNceLoss } from '../../src/losses/cpcInfoNceLoss.ts';
import { cmcLoss } from '../../src/losses/cmcLoss.ts';
import { useCpu } from '../losses/support.ts';

const norm = (r: number[]) => Math.sqrt(r.reduce((s, x) => s + x * x, 0));
const fast = { numRuns: 12, seed: 42, throwOnFailure: false } as const;

/** A hand-written NT-Xent whose pieces the mutants below break one at a time. */
function handNtXent(opts: { sign?: number; useTau?: boolean; keepDiagonal?: boolean; naiveLse?: boolean } = {}): PairLoss {
  return (a, b, tau) =>
    tf.tidy(() => {
      const t = opts.useTau === false ? 1 : tau;
      const n = a.shape[0];
      const z = tf.concat([a, b], 0);
      const zn = tf.div(z, tf.norm(z, 'euclidean', 1, true));
      const sim = tf.div(tf.matMul(zn, zn, false, true), t);
      const logits = opts.keepDiagonal ? sim : tf.where(tf.cast(tf.eye(2 * n), 'bool'), tf.scalar(-1e30), sim);
      const lse = opts.naiveLse ? tf.log(tf.sum(tf.exp(logits), 1)) : tf.logSumExp(logits, 1);
      const partner = tf.concat([tf.slice(zn, [n, 0], [n, -1]), tf.slice(zn, [0, 0], [n, -1])], 0);
      const pos = tf.div(tf.sum(tf.mul(zn, partner), 1), t);
      return tf.mul(opts.sign ?? 1, tf.mean(tf.sub(lse, pos))) as tf.Scalar;
    });
}
/** Names of the failed properties, sorted; KIT_DEBUG=1 prints why each failed. */
function failedOf(r: { failed: { property: InvariantName; message: string }[] }): InvariantName[] {
  if (process.env.KIT_DEBUG) console.log(r.failed.map((f) => `${f.property}: ${f.message.split('\n')[0]}`).join('\n'));
  return r.failed.map((f) => f.property).sort();
}

describe('contrastream/testing arbitraries', () => {
  it('generate batches of the requested shapes, unit rows, paired views, temperatures including 0.01, permutations', () => {
    fc.assert(fc.property(embeddingBatch({ rows: { min: 2, max: 4 }, dim: { min: 1, max: 3 } }), (m) => m.length >= 2 && m.length <= 4 && m.every((r) => r.length === m[0].length && r.length <= 3)));
    fc.assert(fc.property(unitEmbeddingBatch({ rows: 3, dim: 5 }), (m) => m.length === 3 && m.every((r) => Math.abs(norm(r) - 1) < 1e-9)));
    fc.assert(fc.property(embeddingPair({ rows: { min: 1, max: 4 }, dim: 3 }), ([a, b]) => a.length === b.length && [...a, ...b].every((r) => r.length === 3 && Math.abs(norm(r) - 1) < 1e-9)));
    const taus = fc.sample(temperature(), { numRuns: 400, seed: 1 });
    expect(taus.every((t) => t >= 0.01 && t <= 1)).toBe(true);
    expect(taus).toContain(0.01);
    fc.assert(fc.property(fc.integer({ min: 0, max: 8 }).chain((n) => fc.tuple(fc.constant(n), permutation(n))), ([n, p]) => [...p].sort((x, y) => x - y).every((v, i) => v === i) && p.length === n));
  });
});

describe('checkLossInvariants', () => {
  beforeAll(useCpu);

  it('passes every contrastream loss (adapted to the anchors/positives/temperature contract)', () => {
    const queue = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0, 0]]); // off the test axes
    const losses: Array<[string, PairLoss, { nonNegative: boolean; vanishesWhenSeparated: boolean; dim?: number }]> = [
      ['ntXentLoss', (a, b, t) => ntXentLoss(a, b, { temperature: t }), { nonNegative: true, vanishesWhenSeparated: true }],
      ['invaSpreadLoss', (a, b, t) => invaSpreadLoss(a, b, { temperature: t }), { nonNegative: true, vanishesWhenSeparated: true }],
      ['cpcInfoNceLoss', (a, b, t) => cpcInfoNceLoss(a, b, { temperature: t }), { nonNegative: true, vanishesWhenSeparated: true }],
      ['cmcLoss (in-batch softmax)', (a, b, t) => cmcLoss([a, b], undefined, { form: 'softmax', temperature: t }), { nonNegative: true, vanishesWhenSeparated: true }],
      ['infoNceLoss (fixed queue)', (a, b, t) => infoNceLoss(a, b, queue, { temperature: t }), { nonNegative: true, vanishesWhenSeparated: true, dim: 9 }],
      ['nceLoss (fixed noise and Z)', (a, b, t) => nceLoss(a, b, queue, { normalizer: 50, datasetSize: 100, temperature: t }), { nonNegative: true, vanishesWhenSeparated: false, dim: 9 }],
    ];
    for (const [name, loss, opts] of losses) {
      const report = checkLossInvariants(loss, { ...opts, numRuns: 6, seed: 7, throwOnFailure: false }); // each loss's own tests run these properties at full strength
      expect(report.failed, `${name}: ${report.failed.map((f) => f.message).join('\n')}`).toEqual([]);
      expect(report.passed.length).toBeGreaterThanOrEqual(7);
    }
    queue.dispose();
  });

  it('passes the correct hand-written NT-Xent, the control for the mutants below', () => {
    expect(failedOf(checkLossInvariants(handNtXent(), { ...fast, nonNegative: true, vanishesWhenSeparated: true }))).toEqual([]);
  });

  it('catches a wrong sign', () => {
    const failed = failedOf(checkLossInvariants(handNtXent({ sign: -1 }), { ...fast, nonNegative: true }));
    expect(failed).toEqual(['monotonicInPositive', 'nonNegative', 'temperatureMonotone']);
  });

  it('catches a missing temperature', () => {
    const failed = failedOf(checkLossInvariants(handNtXent({ useTau: false }), { ...fast, nonNegative: true, vanishesWhenSeparated: true }));
    expect(failed).toEqual(['temperatureMonotone', 'vanishesWhenSeparated']);
  });

  it('catches the self-similarity left in the denominator', () => {
    const failed = failedOf(checkLossInvariants(handNtXent({ keepDiagonal: true }), { ...fast, nonNegative: true, vanishesWhenSeparated: true }));
    expect(failed).toEqual(['vanishesWhenSeparated']);
  });

  it('catches overflow (log of a sum of exps without the max subtracted) at tau = 0.01', () => {
    const failed = failedOf(checkLossInvariants(handNtXent({ naiveLse: true }), fast));
    expect(failed).toContain('finite');
  });

  it('catches a loss that depends on the order of the batch', () => {
    const ordered: PairLoss = (a, b, t) => tf.tidy(() => tf.mul(ntXentLoss(a, b, { temperature: t }), tf.add(1, tf.mul(0.1, tf.reshape(tf.slice(a, [0, 0], [1, 1]), [])))) as tf.Scalar);
    expect(failedOf(checkLossInvariants(ordered, fast))).toEqual(['permutationInvariant']);
  });

  it('catches a wrong custom gradient', () => {
    const wrongGrad: PairLoss = (a, b, t) => {
      const f = tf.customGrad(((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
        save([x, y]);
        return {
          value: ntXentLoss(x as tf.Tensor2D, y as tf.Tensor2D, { temperature: t }),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0]), tf.mul(dy, saved[1])], // not the gradient
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]);
      return f(a, b) as tf.Scalar;
    };
    expect(failedOf(checkLossInvariants(wrongGrad, fast))).toEqual(['gradient']);
  });

  it('catches a tensor leak', () => {
    const kept: tf.Tensor[] = [];
    const leaky: PairLoss = (a, b, t) => {
      kept.push(tf.keep(tf.add(a, 0)));
      return ntXentLoss(a, b, { temperature: t });
    };
    expect(failedOf(checkLossInvariants(leaky, fast))).toEqual(['noTensorLeak']);
    tf.dispose(kept);
  });

  it('throws a LossInvariantError naming the failed properties by default', () => {
    expect(() => checkLossInvariants(handNtXent({ sign: -1 }), { numRuns: 5, seed: 1, skip: ['gradient', 'finite', 'noTensorLeak'] })).toThrow(LossInvariantError);
    expect(() => checkLossInvariants(handNtXent({ sign: -1 }), { numRuns: 5, seed: 1, skip: ['gradient', 'finite', 'noTensorLeak'] })).toThrow(/monotonicInPositive/);
    expect(() => checkLossInvariants(handNtXent(), { dim: 2 })).toThrow(/argument 'options.dim'/);
  });
});
