import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';
import { knnClassify } from '../../src/eval/knnClassify.ts';

/** Slow reference written from the formula: full sort, weighted vote. */
function knnSlow(train: number[][], trainY: number[], test: number[][], k: number, tau: number, classes: number) {
  const norm = (v: number[]) => {
    const s = Math.max(Math.sqrt(v.reduce((a, b) => a + b * b, 0)), 1e-12);
    return v.map((x) => x / s);
  };
  const tr = train.map(norm);
  return test.map((q0) => {
    const q = norm(q0);
    const sims = tr.map((t, i) => ({ s: t.reduce((a, b, j) => a + b * q[j], 0), y: trainY[i] }));
    sims.sort((a, b) => b.s - a.s);
    const score = new Array(classes).fill(0);
    for (const { s, y } of sims.slice(0, k)) score[y] += Math.exp(s / tau);
    return score.indexOf(Math.max(...score));
  });
}

describe('knnClassify', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the slow reference on random features', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (n, m, d, classes, seed) => {
          let s = seed;
          const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
          const train = Array.from({ length: n }, () => Array.from({ length: d }, rnd));
          const test = Array.from({ length: m }, () => Array.from({ length: d }, rnd));
          const trainY = Array.from({ length: n }, (_, i) => i % classes);
          const testY = Array.from({ length: m }, (_, i) => i % classes);
          const k = Math.max(1, Math.floor(n / 2));
          const before = tf.memory().numTensors;
          const res = knnClassify(tf.tensor2d(train), trainY, tf.tensor2d(test), testY, { k, numClasses: classes, blockSize: 5 });
          tf.disposeVariables();
          const expected = knnSlow(train, trainY, test, k, 0.1, classes);
          expect(Array.from(res.predictions)).toEqual(expected);
          // inputs were created inline: only they may remain (2 tensors)
          expect(tf.memory().numTensors - before).toBe(2);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('separable clusters give top-1 = 1', () => {
    const train = tf.tensor2d([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]]);
    const test = tf.tensor2d([[1, 0.05], [0.05, 1]]);
    const r = knnClassify(train, [0, 0, 1, 1], test, [0, 1], { k: 2 });
    expect(r.top1).toBe(1);
    tf.dispose([train, test]);
  });

  it('rejects mismatched shapes naming the argument', () => {
    const a = tf.zeros([3, 2]) as tf.Tensor2D;
    const b = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => knnClassify(a, [0, 1, 2], b, [0, 1])).toThrow(/knnClassify: argument 'testFeatures'/);
    tf.dispose([a, b]);
  });
});
