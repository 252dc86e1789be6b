import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { linearProbe, softmaxRegressionGradients } from '../../src/eval/linearProbe.ts';
import { ArgumentError } from '../../src/errors.ts';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
function gauss(rnd: () => number) {
  return Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
}

/** Slow loop from the formulas in linearProbe.ts. */
function slow(x: number[][], y: number[], w: number[][], b: number[], lambda: number) {
  const n = x.length;
  const d = w.length;
  const c = b.length;
  let loss = 0;
  const dW = Array.from({ length: d }, () => new Array(c).fill(0));
  const db = new Array(c).fill(0);
  for (let i = 0; i < n; i++) {
    const z = b.map((bj, j) => bj + x[i].reduce((a, xi, k) => a + xi * w[k][j], 0));
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((a, zj) => a + Math.exp(zj - mx), 0));
    loss -= (z[y[i]] - lse) / n;
    for (let j = 0; j < c; j++) {
      const g = (Math.exp(z[j] - lse) - (j === y[i] ? 1 : 0)) / n;
      db[j] += g;
      for (let k = 0; k < d; k++) dW[k][j] += x[i][k] * g;
    }
  }
  for (let k = 0; k < d; k++) for (let j = 0; j < c; j++) {
    loss += (lambda / 2) * w[k][j] ** 2;
    dW[k][j] += lambda * w[k][j];
  }
  return { loss, dW, db };
}

function blobs(n: number, d: number, classes: number, spread: number, seed: number) {
  const rnd = lcg(seed);
  const centers = Array.from({ length: classes }, () => Array.from({ length: d }, () => gauss(rnd) * 3));
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    y[i] = c;
    for (let k = 0; k < d; k++) x[i * d + k] = centers[c][k] + spread * gauss(rnd) + 50; // offset: standardisation must cope
  }
  return { x: tf.tensor2d(x, [n, d]), y };
}

describe('linearProbe', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('softmaxRegressionGradients matches the slow loop and finite differences', () => {
    const rnd = lcg(7);
    const n = 9, d = 5, c = 4, lambda = 0.03;
    const x = Array.from({ length: n }, () => Array.from({ length: d }, () => gauss(rnd)));
    const y = Array.from({ length: n }, () => Math.floor(rnd() * c));
    const w = Array.from({ length: d }, () => Array.from({ length: c }, () => gauss(rnd) * 0.5));
    const b = Array.from({ length: c }, () => gauss(rnd) * 0.5);
    const ref = slow(x, y, w, b, lambda);
    const yT = tf.cast(tf.oneHot(tf.tensor1d(y, 'int32'), c), 'float32') as tf.Tensor2D;
    const { loss, dW, db } = softmaxRegressionGradients(tf.tensor2d(x), yT, tf.tensor2d(w), tf.tensor1d(b), lambda);
    expect(loss.dataSync()[0]).toBeCloseTo(ref.loss, 4);
    const gw = dW.arraySync();
    for (let k = 0; k < d; k++) for (let j = 0; j < c; j++) expect(gw[k][j]).toBeCloseTo(ref.dW[k][j], 4);
    db.arraySync().forEach((v, j) => expect(v).toBeCloseTo(ref.db[j], 4));
    // Central differences on the slow loss (float64).
    const h = 1e-5;
    for (const [k, j] of [[0, 0], [2, 3], [4, 1]]) {
      const wp = w.map((r) => [...r]);
      const wm = w.map((r) => [...r]);
      wp[k][j] += h;
      wm[k][j] -= h;
      expect((slow(x, y, wp, b, lambda).loss - slow(x, y, wm, b, lambda).loss) / (2 * h)).toBeCloseTo(ref.dW[k][j], 5);
    }
  });

  it('separates Gaussian blobs, reaches chance on shuffled labels, and leaks no tensors', () => {
    const train = blobs(400, 16, 4, 1.0, 1);
    const test = blobs(200, 16, 4, 1.0, 1); // same centres (same seed), fresh noise below
    const testNoise = blobs(200, 16, 4, 1.0, 99);
    const before = tf.memory().numTensors;
    const r = linearProbe(train.x, train.y, test.x, test.y, { epochs: 30, numClasses: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.top1).toBeGreaterThan(0.95);
    expect(r.trainTop1).toBeGreaterThan(0.95);
    expect(r.predictions).toHaveLength(200);
    expect(Number.isFinite(r.finalLoss)).toBe(true);
    // Labels unrelated to the features: the probe cannot beat chance on held-out rows by much.
    const rnd = lcg(5);
    const shuffled = Int32Array.from(train.y, () => Math.floor(rnd() * 4));
    const testShuffled = Int32Array.from(testNoise.y, () => Math.floor(rnd() * 4));
    const r2 = linearProbe(train.x, shuffled, testNoise.x, testShuffled, { epochs: 30, numClasses: 4 });
    expect(r2.top1).toBeLessThan(0.4);
    tf.dispose([train.x, test.x, testNoise.x]);
  });

  it('names bad arguments', () => {
    const x = tf.zeros([4, 3]) as tf.Tensor2D;
    expect(() => linearProbe(x, [0, 1, 0], x, [0, 1, 0, 1])).toThrow(/trainLabels.*3 entries for 4 rows/);
    expect(() => linearProbe(x, [0, 1, 0, -1], x, [0, 1, 0, 1])).toThrow(ArgumentError);
    expect(() => linearProbe(x, [0, 1, 0, 1], tf.zeros([2, 5]) as tf.Tensor2D, [0, 1])).toThrow(/testFeatures.*5 columns/);
    expect(() => linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { lr: 0 })).toThrow(/config.lr/);
    x.dispose();
  });
});
