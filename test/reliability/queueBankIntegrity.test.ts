/**
 * Issue 7, item 10: queue and bank integrity over long runs. KeyQueue: advances exactly B
 * entries per step, holds exactly the last K/B batches (FIFO, checked against a host model),
 * no entry older than K/B steps, rows unit-norm. MemoryBank: rows unit-norm after every
 * update and equal to the formula normalize(m v + (1 - m) f) replayed on the host, also with
 * asynchronous (scheduled) updates. The MoCo pipeline's queue after a real run obeys the same.
 * tf.memory().numTensors stays flat.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, toArray } from 'rxjs';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { registerGradients } from '../../src/train/registerGradients.ts';
import { KeyQueue, type KeyQueueState } from '../../src/memory/KeyQueue.ts';
import { MemoryBank } from '../../src/memory/MemoryBank.ts';
import { SeededRng } from '../../src/internal/seededRng.ts';
import { createAugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import moco from '../../pipelines/moco.ts';
import { syntheticImages } from '../pipelines/support.ts';

beforeAll(async () => {
  if (activeBackend() === undefined) await initBackend({ log: null });
  await registerGradients();
});

function unitRows(n: number, d: number, rng: SeededRng, scale = 1): Float32Array {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let c = 0; c < d; c++) ss += (out[r * d + c] = rng.nextGaussian()) ** 2;
    const inv = scale / Math.sqrt(ss);
    for (let c = 0; c < d; c++) out[r * d + c] *= inv;
  }
  return out;
}

function maxNormError(rows: Float32Array, d: number): number {
  let worst = 0;
  for (let r = 0; r < rows.length / d; r++) {
    let ss = 0;
    for (let c = 0; c < d; c++) ss += rows[r * d + c] ** 2;
    worst = Math.max(worst, Math.abs(Math.sqrt(ss) - 1));
  }
  return worst;
}

function checkQueue(s: KeyQueueState, now: number): { maxAge: number; normErr: number } {
  const k = s.size / s.batchSize;
  let maxAge = 0;
  for (const st of s.steps) if (st >= 0) maxAge = Math.max(maxAge, now - st);
  expect(maxAge).toBeLessThan(k); // never older than K/B steps
  return { maxAge, normErr: maxNormError(s.keys, s.dim) };
}

describe('queue and bank integrity (item 10)', () => {
  it('KeyQueue over 2000 steps: exactly B entries per step, FIFO of the last K/B batches, unit rows, flat tensors', () => {
    const K = 64;
    const B = 8;
    const D = 16;
    const q = new KeyQueue({ size: K, dim: D, batchSize: B, seed: 1 });
    const rng = new SeededRng(7);
    const model = q.state().keys.slice(); // host FIFO model of the buffer
    const tensors = tf.memory().numTensors;
    let worstNorm = maxNormError(model, D);
    let worstAge = 0;
    for (let step = 0; step < 2000; step++) {
      const p = q.pointer;
      const keys = unitRows(B, D, rng);
      const t = tf.tensor2d(keys, [B, D]);
      q.enqueue(t, step);
      t.dispose();
      expect(q.pointer).toBe((p + B) % K); // advances exactly B
      model.set(keys, p * D);
      if (step % 50 === 49 || step < 10) {
        const s = q.state();
        expect(s.keys).toEqual(model); // exactly the last K/B batches, in FIFO slots
        // slot j (rows jB..jB+B-1) is written at steps s with s mod (K/B) = j: its step is the latest such s
        const slots = K / B;
        for (let r = 0; r < K; r++) {
          const j = Math.floor(r / B);
          const latest = step - ((((step - j) % slots) + slots) % slots);
          expect(s.steps[r]).toBe(latest < 0 ? -1 : latest);
        }
        const c = checkQueue(s, step);
        worstAge = Math.max(worstAge, c.maxAge);
        worstNorm = Math.max(worstNorm, c.normErr);
      }
    }
    expect(tf.memory().numTensors).toBe(tensors);
    console.log(`[item 10] KeyQueue K=${K} B=${B}: 2000 steps, max entry age ${worstAge} steps (K/B = ${K / B}), max | ||row|| - 1 | = ${worstNorm.toExponential(2)}`);
    expect(worstAge).toBe(K / B - 1);
    expect(worstNorm).toBeLessThan(1e-5);
    q.dispose();
  });

  it('MemoryBank over 2000 updates (sync and scheduled): rows unit-norm and equal to the formula replayed on the host', async () => {
    const n = 50;
    const D = 8;
    const m = 0.5;
    const bank = new MemoryBank({ size: n, dim: D, momentum: m, seed: 3 });
    const ref = new Float64Array(bank.state().rows);
    const rng = new SeededRng(11);
    const tensors = tf.memory().numTensors;
    let worst = 0;
    let worstRef = 0;
    const pending: Promise<void>[] = [];
    for (let step = 0; step < 2000; step++) {
      const idx = Int32Array.from({ length: 6 }, () => Math.floor(rng.nextFloat() * n)); // repeats allowed
      const f = unitRows(6, D, rng, 1 + 100 * rng.nextFloat()); // features of any norm
      for (let i = 0; i < idx.length; i++) {
        let ss = 0;
        const row = idx[i] * D;
        for (let c = 0; c < D; c++) ss += (ref[row + c] = m * ref[row + c] + (1 - m) * f[i * D + c]) ** 2;
        const inv = 1 / Math.sqrt(ss);
        for (let c = 0; c < D; c++) ref[row + c] *= inv;
      }
      if (step < 1000) bank.update(idx, f);
      else {
        const t = tf.tensor2d(f, [6, D]);
        pending.push(bank.scheduleUpdate(idx, t));
        t.dispose();
      }
      if (step % 100 === 99) {
        if (step >= 1000) await bank.flush();
        const rows = bank.state().rows;
        worst = Math.max(worst, maxNormError(rows, D));
        for (let i = 0; i < rows.length; i++) worstRef = Math.max(worstRef, Math.abs(rows[i] - ref[i]));
      }
    }
    await Promise.all(pending);
    expect(bank.lastStep).toBe(1999);
    expect(tf.memory().numTensors).toBe(tensors);
    console.log(`[item 10] MemoryBank n=${n}: 2000 updates, max | ||row|| - 1 | = ${worst.toExponential(2)}, max |row - host replay| = ${worstRef.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    expect(worstRef).toBeLessThan(1e-4);
  });

  it("the MoCo pipeline's queue after 40 real steps: advanced B per step, ages < K/B, unit rows", async () => {
    const pool = createAugmentPool({ size: 1 });
    const N = 32;
    const B = 8;
    const K = 32;
    const { images, labels } = syntheticImages(N, 16, 1);
    const inst = moco.create({ ...moco.defaults, imageSize: 16, batchSize: B, queueSize: K, headHiddenDim: 32, projectionDim: 16, warmupEpochs: 0 }, {
      source: fromArrays({ images, width: 16, height: 16, channels: 1, labels }, { epochs: 10, shuffle: true, seed: 2 }),
      pool,
      seed: 0,
      dataset: { name: 'synthetic', size: N, height: 16, width: 16, channels: 1, numClasses: 4 },
      stepsPerEpoch: N / B,
      totalSteps: (10 * N) / B,
    });
    try {
      const reports = await lastValueFrom(inst.steps.pipe(toArray()));
      const s = (inst.state!() as { queue: KeyQueueState }).queue;
      const c = checkQueue(s, s.lastStep);
      const k = s.size; // MoCo caps K below the dataset size (no key of the sample itself in the queue)
      console.log(`[item 10] MoCo queue (K=${k}, asked ${K}) after ${reports.length} steps: pointer ${s.pointer}, lastStep ${s.lastStep}, max age ${c.maxAge} (K/B = ${k / B}), max | ||row|| - 1 | = ${c.normErr.toExponential(2)}`);
      expect(reports.length).toBe(40);
      expect(s.batchSize).toBe(B);
      expect(s.pointer).toBe((40 * B) % k);
      expect(Array.from(s.steps).every((st) => st >= 0)).toBe(true); // all initial keys replaced
      expect([...new Set(s.steps)].sort((a, b) => a - b)).toEqual(Array.from({ length: k / B }, (_, i) => 40 - k / B + 1 + i)); // the last K/B steps
      expect(c.maxAge).toBe(k / B - 1);
      expect(c.normErr).toBeLessThan(1e-4);
    } finally {
      inst.dispose();
      await pool.destroy();
    }
  });
});
