import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import cmc, { frequencyViews, rgbToLabViews } from '../../pipelines/cmc.ts';
import { rgbToLab, CMC_LAB_MEAN, CMC_LAB_STD } from '../../src/augment/lab.ts';
import { MemoryBank, type MemoryBankState } from '../../src/memory/MemoryBank.ts';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { smokeRun, lossTrend } from './support.ts';

/** Largest | ||row|| - 1 | over the bank. */
function maxNormError(bank: MemoryBankState): number {
  let worst = 0;
  for (let r = 0; r < bank.size; r++) {
    let ss = 0;
    for (let c = 0; c < bank.dim; c++) ss += bank.rows[r * bank.dim + c] ** 2;
    worst = Math.max(worst, Math.abs(Math.sqrt(ss) - 1));
  }
  return worst;
}

interface CmcState {
  views: string[];
  memoryBanks: MemoryBankState[];
  nceNormalizers: number[][] | null;
}

describe('pipelines/cmc', () => {
  // NCE after one in-batch epoch on grayscale (frequency views); softmax with the paper's
  // bank positives from the first step on RGB (Lab views).
  for (const [loss, channels, inBatchEpochs] of [['nce', 1, 1], ['softmax', 3, 0]] as const) {
    it(`${loss} form on ${channels}-channel images, inBatchEpochs ${inBatchEpochs}: finite, decreasing loss, unit bank rows, no tensor leak`, async () => {
      const r = await smokeRun(cmc, { channels, epochs: 5, overrides: { loss, inBatchEpochs, featureDim: 32, lr: 0.5, warmupEpochs: 0 } });
      expect(r.reports.length).toBe(20);
      for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
      // the first inBatchEpochs epochs (4 steps each) are the in-batch softmax, then the bank form
      const bankPhase = r.reports.slice(4 * inBatchEpochs);
      const { first, last } = lossTrend(bankPhase);
      expect(last).toBeLessThan(first);
      expect(r.featureShape).toEqual([4, 256]); // two views x 128, concatenated
      expect(tf.memory().numTensors).toBe(r.before);
      expect(r.tensorsAfterEval).toBe(r.tensorsAfterFirstEpoch);

      const state = r.instance.state!() as unknown as CmcState;
      expect(state.views).toEqual(channels === 3 ? ['L', 'ab'] : ['low', 'high']);
      expect(state.memoryBanks.length).toBe(2);
      for (const bank of state.memoryBanks) {
        expect(bank.size).toBe(64);
        expect(bank.dim).toBe(32);
        expect(bank.lastStep).toBe(20); // every step's update was applied, in order
        expect(maxNormError(bank)).toBeLessThan(1e-5);
      }
      // the two views' banks hold different features (separate encoders and heads)
      const [a, b] = state.memoryBanks;
      let diff = 0;
      for (let i = 0; i < a.rows.length; i++) diff = Math.max(diff, Math.abs(a.rows[i] - b.rows[i]));
      expect(diff).toBeGreaterThan(1e-2);
      // every row was written (4 steps of 16 cover the 64 images each epoch): none is still its
      // random initial value (bank v is seeded with run seed 0 + 100 + v)
      state.memoryBanks.forEach((bank, v) => {
        const init = new MemoryBank({ size: 64, dim: 32, momentum: 0.5, seed: 100 + v }).state();
        for (let row = 0; row < 64; row++) {
          let d = 0;
          for (let c = 0; c < 32; c++) d = Math.max(d, Math.abs(bank.rows[row * 32 + c] - init.rows[row * 32 + c]));
          expect(d).toBeGreaterThan(1e-3);
        }
      });
      if (loss === 'nce') {
        expect(state.nceNormalizers![0][1]).toBeGreaterThan(0);
        expect(state.nceNormalizers![1][0]).toBeGreaterThan(0);
      } else {
        expect(state.nceNormalizers).toBeNull();
      }
    });
  }

  // The default frequency views come from two independent crops; 'shared' cuts both from one.
  it("frequency views with viewCrops 'shared' (the paper's one crop) train too; bad viewCrops are refused", async () => {
    const r = await smokeRun(cmc, { epochs: 3, overrides: { viewCrops: 'shared', inBatchEpochs: 3, lr: 0.1, warmupEpochs: 0 } });
    expect(r.reports.length).toBe(12);
    for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
    const { first, last } = lossTrend(r.reports, 3);
    expect(last).toBeLessThan(first);
    expect(tf.memory().numTensors).toBe(r.before);
    await expect(smokeRun(cmc, { channels: 3, epochs: 1, overrides: { viewCrops: 'independent' } })).rejects.toThrow(/viewCrops.*frequency views only/);
    await expect(smokeRun(cmc, { epochs: 1, overrides: { viewCrops: 'some' } })).rejects.toThrow(/viewCrops.*'auto', 'shared' or 'independent'/);
  });

  it('rgbToLabViews matches the augmentation worker (rgbToLab + CMC normalisation)', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const px = new Uint8Array(5 * 7 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 97 + 13) % 256;
    px.set([0, 0, 0, 255, 255, 255, 255, 0, 0], 0); // black, white, red
    const L = new Float32Array(35);
    const ab = new Float32Array(70);
    rgbToLab(px, 35, 3, L, ab);
    const x = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(px), [1, 5, 7, 3]), 255) as tf.Tensor4D);
    const [tL, tAb] = rgbToLabViews(x);
    expect(tL.shape).toEqual([1, 5, 7, 1]);
    expect(tAb.shape).toEqual([1, 5, 7, 2]);
    const gotL = tL.dataSync();
    const gotAb = tAb.dataSync();
    for (let i = 0; i < 35; i++) expect(gotL[i]).toBeCloseTo((L[i] - CMC_LAB_MEAN[0]) / CMC_LAB_STD[0], 3);
    for (let i = 0; i < 70; i++) expect(gotAb[i]).toBeCloseTo((ab[i] - CMC_LAB_MEAN[1 + (i % 2)]) / CMC_LAB_STD[1 + (i % 2)], 3);
    tf.dispose([x, tL, tAb]);
  });

  it('frequencyViews splits the image into low + high = x (after normalisation), low smooth', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([2, 12, 12, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const [low, high] = frequencyViews(x, 1.5, 0.3, 0.4);
    const recon = tf.tidy(() => tf.add(tf.add(tf.mul(low, 0.4), 0.3), tf.mul(high, 0.4)));
    const err = tf.tidy(() => tf.max(tf.abs(tf.sub(recon, x))).dataSync()[0]);
    expect(err).toBeLessThan(1e-5);
    // the low-pass view varies far less between neighbouring pixels than the image does
    const tv = (t: tf.Tensor4D) => tf.tidy(() => tf.mean(tf.abs(tf.sub(tf.slice(t, [0, 0, 1, 0], [2, 12, 11, 1]), tf.slice(t, [0, 0, 0, 0], [2, 12, 11, 1])))).dataSync()[0]);
    const lowDenorm = tf.tidy(() => tf.mul(low, 0.4) as tf.Tensor4D);
    expect(tv(lowDenorm)).toBeLessThan(0.3 * tv(x));
    // a constant image has no high band (symmetric padding keeps the edges flat)
    const flat = tf.fill([1, 12, 12, 1], 0.7) as tf.Tensor4D;
    const [flatLow, flatHigh] = frequencyViews(flat, 1.5, 0, 1);
    expect(tf.tidy(() => tf.max(tf.abs(flatHigh)).dataSync()[0])).toBeLessThan(1e-5);
    tf.dispose([x, low, high, recon, lowDenorm, flat, flatLow, flatHigh]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
