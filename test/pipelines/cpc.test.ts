import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import cpc, { cpcInfoNceLossFast, extractPatches, patchGeometry, poolGrid } from '../../pipelines/cpc.ts';
import { cpcInfoNceLoss } from '../../src/losses/cpcInfoNceLoss.ts';
import { maskedConvContext } from '../../src/models/maskedConvContext.ts';
import { cpcPredictor } from '../../src/models/cpcPredictor.ts';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { smokeRun, lossTrend } from './support.ts';

describe('pipelines/cpc', () => {
  it('trains a few steps: finite, decreasing loss, no tensor leak', async () => {
    // 16 px images: grid 6 of 4 px patches at stride 2 spans 14 px; eval resizes 16 -> 14.
    const r = await smokeRun(cpc, { overrides: { warmupEpochs: 0 } });
    expect(r.reports.length).toBe(24);
    for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
    const { first, last } = lossTrend(r.reports);
    expect(last).toBeLessThan(first);
    expect(r.featureShape).toEqual([4, 9 * 128]); // featureGrid 3: 3 x 3 cells of c
    expect(tf.memory().numTensors).toBe(r.before);
    expect(r.tensorsAfterEval).toBe(r.tensorsAfterFirstEpoch);
  });

  it('patch-encoding features (features: z, one mean: featureGrid 1) work too', async () => {
    const r = await smokeRun(cpc, { epochs: 1, overrides: { features: 'z', featureGrid: 1, contextDim: 32 } });
    expect(r.reports.length).toBe(4);
    expect(r.featureShape).toEqual([4, 128]);
    expect(tf.memory().numTensors).toBe(r.before);
  });

  it('poolGrid: cell means in row-major order, as a slow loop over the cells', () => {
    const [n, g, d] = [2, 6, 3];
    const m = tf.randomNormal([n, g, g, d], 0, 1, 'float32', 5) as tf.Tensor4D;
    const data = m.arraySync();
    for (const cells of [1, 2, 3, 4, 6]) {
      const got = poolGrid(m, cells);
      expect(got.shape).toEqual([n, cells * cells * d]);
      const out = got.arraySync();
      const edge = (i: number) => Math.round((i * g) / cells);
      for (let b = 0; b < n; b++)
        for (let cy = 0; cy < cells; cy++)
          for (let cx = 0; cx < cells; cx++)
            for (let c = 0; c < d; c++) {
              let sum = 0;
              let count = 0;
              for (let y = edge(cy); y < edge(cy + 1); y++)
                for (let x = edge(cx); x < edge(cx + 1); x++) {
                  sum += data[b][y][x][c];
                  count++;
                }
              expect(out[b][(cy * cells + cx) * d + c]).toBeCloseTo(sum / count, 5);
            }
      got.dispose();
    }
    m.dispose();
  });

  it('the context network is causal along the rows: c_t does not change when rows > t do', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const net = maskedConvContext({ inDim: 8, dim: 8, layers: 2, seed: 3 });
    // the residual projections start at 0; give every weight a random value so all paths count
    tf.tidy(() => net.parameters().forEach((v, i) => v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', i + 1))));
    const [n, t, w, d] = [2, 6, 5, 8];
    const z = tf.randomNormal([n, t, w, d], 0, 1, 'float32', 7) as tf.Tensor4D;
    const c = net.forward(z, { training: true });
    expect(c.shape).toEqual([n, t, w, d]);
    for (const row of [0, 2, 4]) {
      // replace every row below `row` with other values
      const changed = tf.tidy(() => {
        const keep = tf.slice(z, [0, 0, 0, 0], [n, row + 1, w, d]);
        const noise = tf.randomNormal([n, t - row - 1, w, d], 3, 2, 'float32', 100 + row);
        return tf.concat([keep, noise], 1) as tf.Tensor4D;
      });
      const c2 = net.forward(changed, { training: true });
      const diffUpTo = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(c, [0, 0, 0, 0], [n, row + 1, w, d]), tf.slice(c2, [0, 0, 0, 0], [n, row + 1, w, d])))).dataSync()[0]);
      const diffNext = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(c, [0, row + 1, 0, 0], [n, 1, w, d]), tf.slice(c2, [0, row + 1, 0, 0], [n, 1, w, d])))).dataSync()[0]);
      expect(diffUpTo).toBe(0); // rows <= row see nothing of the rows below
      expect(diffNext).toBeGreaterThan(1e-3); // and the next row does see its own input
      tf.dispose([changed, c2]);
    }
    tf.dispose([z, c]);
    net.dispose();
  });

  it('predictor heads W_k have shape [Dc, D] and predictAhead aligns row t with row t + k', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const before = tf.memory().numTensors;
    const offsets = [2, 3, 4];
    const pred = cpcPredictor({ contextDim: 6, targetDim: 3, offsets, seed: 1 });
    expect([...pred.namedParameters()].map(([k, v]) => [k, v.shape])).toEqual([
      ['w2.weight', [6, 3]],
      ['w3.weight', [6, 3]],
      ['w4.weight', [6, 3]],
    ]);
    const [n, t, w] = [2, 6, 5];
    // z[n, t, w] = (n, t, w); c = anything
    const ids = new Float32Array(n * t * w * 3);
    for (let a = 0; a < n; a++) for (let b = 0; b < t; b++) for (let e = 0; e < w; e++) ids.set([a, b, e], ((a * t + b) * w + e) * 3);
    const z = tf.tensor4d(ids, [n, t, w, 3]);
    const c = tf.randomNormal([n, t, w, 6], 0, 1, 'float32', 2) as tf.Tensor4D;
    const all = pred.forward(c);
    expect(all.shape).toEqual([n, t, w, 3 * 3]);
    const { predictions, targets } = pred.predictAhead(c, z);
    const cRows = c.reshape([n * t * w, 6]);
    offsets.forEach((k, s) => {
      const rows = n * (t - k) * w;
      expect(predictions[s].shape).toEqual([rows, 3]);
      expect(targets[s].shape).toEqual([rows, 3]);
      const tv = targets[s].arraySync();
      const pv = predictions[s].arraySync();
      const expected = tf.tidy(() => tf.matMul(cRows, pred.heads[s].weight).arraySync()) as number[][];
      let r = 0;
      for (let a = 0; a < n; a++)
        for (let b = 0; b < t - k; b++)
          for (let e = 0; e < w; e++, r++) {
            expect(tv[r]).toEqual([a, b + k, e]); // the target is k rows below
            const src = (a * t + b) * w + e; // the prediction comes from row b
            pv[r].forEach((v, j) => expect(v).toBeCloseTo(expected[src][j], 4));
          }
    });
    tf.dispose([z, c, all, cRows, ...predictions, ...targets]);
    pred.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the fast loss equals cpcInfoNceLoss, value and gradients (bilinear and cosine forms)', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const before = tf.memory().numTensors;
    for (const [cfg, seed] of [[{ temperature: 1, normalize: false }, 1], [{ temperature: 0.1, normalize: true }, 2], [{ temperature: 0.5, normalize: false }, 3]] as const) {
      const ps = [tf.randomNormal([12, 5], 0, 1, 'float32', seed), tf.randomNormal([7, 5], 0, 1, 'float32', seed + 10)] as tf.Tensor2D[];
      const ts = [tf.randomNormal([12, 5], 0, 1, 'float32', seed + 20), tf.randomNormal([7, 5], 0, 1, 'float32', seed + 30)] as tf.Tensor2D[];
      const ref = tf.grads((a, b, c, d) => cpcInfoNceLoss([a, b] as tf.Tensor2D[], [c, d] as tf.Tensor2D[], cfg))([ps[0], ps[1], ts[0], ts[1]]);
      const got = tf.grads((a, b, c, d) => cpcInfoNceLossFast([a, b] as tf.Tensor2D[], [c, d] as tf.Tensor2D[], cfg))([ps[0], ps[1], ts[0], ts[1]]);
      const refValue = cpcInfoNceLoss(ps, ts, cfg);
      const gotValue = cpcInfoNceLossFast(ps, ts, cfg);
      expect(gotValue.dataSync()[0]).toBeCloseTo(refValue.dataSync()[0], 4);
      ref.forEach((g, i) => {
        const err = tf.tidy(() => tf.max(tf.abs(tf.sub(g, got[i]))).dataSync()[0]);
        const size = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]);
        expect(size).toBeGreaterThan(1e-4); // the gradient is not trivially zero
        expect(err).toBeLessThan(1e-5 + 1e-3 * size);
      });
      tf.dispose([...ps, ...ts, ...ref, ...got, refValue, gotValue]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('extractPatches cuts the same centred, row-major grid as the augmentation preset', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const geo = patchGeometry({ grid: 6, patchSize: null, stride: null }, 28);
    expect(geo).toEqual({ grid: 6, patchSize: 8, stride: 4, span: 28 });
    const img = tf.tidy(() => tf.reshape(tf.range(0, 30 * 30), [1, 30, 30, 1]) as tf.Tensor4D);
    const p = extractPatches(img, geo); // span 28 in 30 px: offset 1
    expect(p.shape).toEqual([1, 36, 8, 8, 1]);
    const v = p.arraySync()[0];
    // patch (gy = 2, gx = 3), pixel (y = 1, x = 5) = image (1 + 8 + 1, 1 + 12 + 5)
    expect(v[2 * 6 + 3][1][5][0]).toBe((1 + 2 * 4 + 1) * 30 + (1 + 3 * 4 + 5));
    tf.dispose([img, p]);
  });
});
