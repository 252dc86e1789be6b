import { describe, it, expect, beforeAll, afterEach, vi } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { from, lastValueFrom, toArray, map, tap } from 'rxjs';
import { MemoryBank, DEFAULT_MEMORY_BANK_CONFIG } from '../../src/memory/MemoryBank.ts';
import { updateMemoryBank } from '../../src/memory/updateMemoryBank.ts';
import { ArgumentError, StateError } from '../../src/errors.ts';
import { momentumRef, norm, rowsOf, useCpu } from './support.ts';

const rowsNow = (bank: MemoryBank) => rowsOf(bank.state().rows, bank.dim);
const closeRows = (a: number[][], b: number[][], eps = 2e-6) => a.every((r, i) => r.every((x, j) => Math.abs(x - b[i][j]) <= eps));

/** A bank and a few update steps: indices (duplicates allowed) and features. */
const scenario = fc
  .record({ n: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 6 }), m: fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })), seed: fc.integer() })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      steps: fc.array(
        fc.integer({ min: 1, max: 5 }).chain((b) =>
          fc.record({
            indices: fc.array(fc.integer({ min: 0, max: c.n - 1 }), { minLength: b, maxLength: b }),
            features: fc.array(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: c.d, maxLength: c.d }), { minLength: b, maxLength: b }),
          }),
        ),
        { minLength: 1, maxLength: 5 },
      ),
    }),
  );

function applyRef(rows: number[][], steps: { indices: number[]; features: number[][] }[], m: number): number[][] {
  const out = rows.map((r) => r.slice());
  for (const s of steps) s.indices.forEach((i, b) => (out[i] = momentumRef(out[i], s.features[b], m)));
  return out;
}

describe('MemoryBank', () => {
  beforeAll(useCpu);
  afterEach(() => vi.restoreAllMocks());

  it('starts with unit-norm random rows, reproducible from the seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 16 }), fc.integer(), (n, d, seed) => {
        const a = rowsNow(new MemoryBank({ size: n, dim: d, seed }));
        a.forEach((r) => expect(Math.abs(norm(r) - 1)).toBeLessThan(1e-6));
        expect(rowsNow(new MemoryBank({ size: n, dim: d, seed }))).toEqual(a);
        if (n * d >= 4) expect(rowsNow(new MemoryBank({ size: n, dim: d, seed: seed + 1 }))).not.toEqual(a);
      }),
      { numRuns: 30 },
    );
    expect(DEFAULT_MEMORY_BANK_CONFIG).toMatchObject({ dim: 128, momentum: 0.5 });
  });

  it('update follows v <- normalize(m v + (1 - m) f) row by row, in order; other rows untouched; rows stay unit', () => {
    fc.assert(
      fc.property(scenario, ({ c, steps }) => {
        const bank = new MemoryBank({ size: c.n, dim: c.d, momentum: c.m, seed: c.seed });
        const before = tf.memory().numTensors;
        const expected = applyRef(rowsNow(bank), steps, c.m);
        steps.forEach((s, i) => {
          const f = tf.tensor2d(s.features, [s.indices.length, c.d]);
          if (i % 2 === 0) bank.update(s.indices, f);
          else bank.update(s.indices, new Float32Array(s.features.flat()));
          f.dispose();
        });
        expect(tf.memory().numTensors).toBe(before);
        const got = rowsNow(bank);
        expect(closeRows(got, expected, 5e-6)).toBe(true);
        got.forEach((r) => expect(Math.abs(norm(r) - 1)).toBeLessThan(1e-5));
        expect(bank.lastStep).toBe(steps.length - 1);
      }),
      { numRuns: 60 },
    );
  });

  it('assign sets rows to normalize(f) (momentum 0) without counting a step; refused while updates are pending', async () => {
    fc.assert(
      fc.property(scenario, ({ c, steps }) => {
        const bank = new MemoryBank({ size: c.n, dim: c.d, momentum: c.m, seed: c.seed });
        const expected = applyRef(rowsNow(bank), steps, 0);
        for (const s of steps) bank.assign(s.indices, new Float32Array(s.features.flat()));
        expect(closeRows(rowsNow(bank), expected, 5e-6)).toBe(true);
        expect(bank.lastStep).toBe(-1);
      }),
      { numRuns: 30 },
    );
    const bank = new MemoryBank({ size: 4, dim: 2 });
    const f = tf.tensor2d([[1, 0]]);
    const done = bank.scheduleUpdate([0], f);
    f.dispose();
    expect(() => bank.assign([1], new Float32Array([0, 1]))).toThrow(StateError);
    await done;
    bank.assign([1], new Float32Array([0, 3]));
    expect(rowsNow(bank)[1]).toEqual([0, 1]);
  });

  it('rows(indices) returns exactly those rows; every read tensor is the caller’s to dispose', () => {
    const bank = new MemoryBank({ size: 7, dim: 3, seed: 3 });
    const all = rowsNow(bank);
    const before = tf.memory().numTensors;
    const t = bank.rows([4, 0, 4]);
    expect(t.shape).toEqual([3, 3]);
    expect(closeRows(rowsOf(t.dataSync(), 3), [all[4], all[0], all[4]], 0)).toBe(true);
    t.dispose();
    const s = bank.sample(5);
    const p = bank.samplePerRow([1, 2], 4);
    expect(s.shape).toEqual([5, 3]);
    expect(p.shape).toEqual([2, 4, 3]);
    tf.dispose([s, p]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('draws negatives uniformly (P_n = 1/n), never from the excluded rows, reproducibly', () => {
    const bank = new MemoryBank({ size: 10, dim: 2, seed: 11 });
    const idx = bank.sampleIndices(50_000);
    const counts = new Array(10).fill(0);
    idx.forEach((i) => counts[i]++);
    // Binomial(50000, 0.1): sd ~ 67; 6 sd is a bound that a uniform sampler practically never breaks.
    counts.forEach((c) => expect(Math.abs(c - 5000)).toBeLessThan(400));
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 20 }), fc.integer(), fc.integer({ min: 1, max: 30 }), fc.array(fc.nat(), { maxLength: 10 }), (n, seed, k, ex) => {
        const exclude = ex.map((e) => e % n).slice(0, n - 1);
        fc.pre(new Set(exclude).size < n);
        const a = new MemoryBank({ size: n, dim: 1, seed }).sampleIndices(k, exclude);
        const b = new MemoryBank({ size: n, dim: 1, seed }).sampleIndices(k, exclude);
        expect(Array.from(a)).toEqual(Array.from(b));
        a.forEach((i) => {
          expect(i).toBeGreaterThanOrEqual(0);
          expect(i).toBeLessThan(n);
          expect(exclude).not.toContain(i);
        });
      }),
      { numRuns: 50 },
    );
  });

  it('samplePerRow never draws a row’s own instance and returns those rows’ contents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 9 }), fc.integer(), fc.integer({ min: 1, max: 6 }), (n, seed, k) => {
        const bank = new MemoryBank({ size: n, dim: 2, seed });
        const all = rowsNow(bank);
        const anchors = Array.from({ length: n }, (_, i) => i);
        const t = bank.samplePerRow(anchors, k);
        const v = rowsOf(t.dataSync(), 2);
        t.dispose();
        anchors.forEach((a, b) => {
          for (let j = 0; j < k; j++) {
            const row = v[b * k + j];
            const matches = all.map((r, i) => (r[0] === row[0] && r[1] === row[1] ? i : -1)).filter((i) => i >= 0);
            expect(matches.length).toBeGreaterThan(0);
            expect(matches.every((i) => i === a)).toBe(false);
          }
        });
      }),
      { numRuns: 30 },
    );
  });

  it('scheduled updates return at once and are applied in step order even when their data arrives out of order', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 5 }), async ({ c, steps }, delays) => {
        const bank = new MemoryBank({ size: c.n, dim: c.d, momentum: c.m, seed: c.seed });
        const initial = rowsNow(bank);
        const expected = applyRef(initial, steps, c.m);
        const realData = tf.Tensor.prototype.data;
        let call = 0;
        const spy = vi.spyOn(tf.Tensor.prototype, 'data').mockImplementation(function (this: tf.Tensor) {
          const wait = delays[call++ % delays.length];
          return realData.call(this).then((d) => new Promise((res) => setTimeout(() => res(d), wait)));
        } as unknown as typeof realData);
        const before = tf.memory().numTensors;
        const done: Promise<void>[] = [];
        for (const s of steps) {
          const f = tf.tensor2d(s.features, [s.indices.length, c.d]);
          done.push(bank.scheduleUpdate(s.indices, f));
          f.dispose(); // the bank cloned it
        }
        // Nothing has been applied yet: scheduling did not wait for any data.
        expect(bank.pendingUpdates).toBe(steps.length);
        const read = bank.rows([0]);
        expect(closeRows(rowsOf(read.dataSync(), c.d), [initial[0]], 0)).toBe(true);
        read.dispose();
        const order: number[] = [];
        done.forEach((p, i) => void p.then(() => order.push(i)));
        await bank.flush();
        await Promise.resolve();
        spy.mockRestore();
        expect(order).toEqual(steps.map((_, i) => i));
        expect(bank.pendingUpdates).toBe(0);
        expect(bank.lastStep).toBe(steps.length - 1);
        expect(closeRows(rowsNow(bank), expected, 5e-6)).toBe(true);
        expect(tf.memory().numTensors).toBe(before);
      }),
      { numRuns: 15 },
    );
  });

  it('refuses non-increasing steps, synchronous updates over pending ones, and state() while pending', async () => {
    const bank = new MemoryBank({ size: 4, dim: 2 });
    const f = tf.tensor2d([[1, 0]]);
    const p = bank.scheduleUpdate([1], f, 5);
    expect(() => bank.scheduleUpdate([1], f, 5)).toThrow(/MemoryBank.scheduleUpdate: argument 'step' must be an integer greater than the last scheduled step 5/);
    expect(() => bank.update([1], f)).toThrow(StateError);
    expect(() => bank.state()).toThrow(/await bank.flush\(\) first/);
    await p;
    expect(bank.lastStep).toBe(5);
    expect(() => bank.state()).not.toThrow();
    f.dispose();
  });

  it('round-trips its full state (rows, momentum, step, sampler) through state() and JSON', () => {
    fc.assert(
      fc.property(scenario, ({ c, steps }) => {
        const bank = new MemoryBank({ size: c.n, dim: c.d, momentum: c.m, seed: c.seed });
        for (const s of steps) bank.update(s.indices, new Float32Array(s.features.flat()));
        bank.sampleIndices(3);
        const copy = MemoryBank.fromState(bank.state());
        const viaJson = MemoryBank.fromJSON(JSON.parse(JSON.stringify(bank)));
        for (const other of [copy, viaJson]) {
          expect(other.state()).toEqual(bank.state());
          expect(other.momentum).toBe(c.m);
        }
        const next = Array.from(bank.sampleIndices(7));
        expect(Array.from(copy.sampleIndices(7))).toEqual(next);
        expect(Array.from(viaJson.sampleIndices(7))).toEqual(next);
      }),
      { numRuns: 30 },
    );
    expect(() => MemoryBank.fromState({ kind: 'KeyQueue' } as never)).toThrow(StateError);
    const s = new MemoryBank({ size: 2, dim: 2 }).state();
    expect(() => MemoryBank.fromState({ ...s, rows: new Float32Array(3) })).toThrow(/rows must be a Float32Array of 2 x 2 = 4 values/);
  });

  it('checks its arguments', () => {
    expect(() => new MemoryBank({ size: 0 })).toThrow(/MemoryBank: argument 'config.size'/);
    expect(() => new MemoryBank({ size: 3, momentum: 1.5 })).toThrow(/argument 'config.momentum' must be a number in \[0, 1\]/);
    const bank = new MemoryBank({ size: 3, dim: 2 });
    expect(() => bank.rows([3])).toThrow(/MemoryBank.rows: argument 'indices' entry 0 must be an integer row in \[0, 3\)/);
    expect(() => bank.sampleIndices(0)).toThrow(ArgumentError);
    expect(() => bank.sampleIndices(2, [0, 1, 2])).toThrow(/excludes all 3 rows/);
    const f = tf.tensor2d([[1, 2, 3]]);
    expect(() => bank.update([0], f)).toThrow(/argument 'features' must have shape \[1, 2\]/);
    f.dispose();
  });
});

describe('updateMemoryBank', () => {
  beforeAll(useCpu);

  it('passes every step through at once and, by completion, has applied all updates in step order', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ c, steps }) => {
        const bank = new MemoryBank({ size: c.n, dim: c.d, momentum: c.m, seed: c.seed });
        const expected = applyRef(rowsNow(bank), steps, c.m);
        const before = tf.memory().numTensors;
        const pendingSeen: number[] = [];
        const out = await lastValueFrom(
          from(steps).pipe(
            map((s, step) => ({ step, indices: s.indices, features: tf.tensor2d(s.features, [s.indices.length, c.d]) })),
            updateMemoryBank({ bank, select: (v) => v }),
            tap((v) => {
              pendingSeen.push(bank.pendingUpdates);
              v.features.dispose(); // downstream owns the step's tensors; the bank kept a clone
            }),
            toArray(),
          ),
        );
        expect(out.map((v) => v.step)).toEqual(steps.map((_, i) => i));
        // Emission did not wait for the update: the step's own update was still pending when it came out.
        expect(pendingSeen.every((p) => p >= 1)).toBe(true);
        expect(bank.pendingUpdates).toBe(0);
        expect(closeRows(rowsNow(bank), expected, 5e-6)).toBe(true);
        expect(tf.memory().numTensors).toBe(before);
      }),
      { numRuns: 20 },
    );
  });

  it('sends a bad step through the stream as an error', async () => {
    const bank = new MemoryBank({ size: 4, dim: 2 });
    const bad = tf.tensor2d([[1, 2, 3]]);
    await expect(lastValueFrom(from([{ indices: [0], features: bad }]).pipe(updateMemoryBank({ bank, select: (v) => v })))).rejects.toThrow(
      /MemoryBank.scheduleUpdate: argument 'features' must have shape \[1, 2\]/,
    );
    await expect(lastValueFrom(from([1]).pipe(updateMemoryBank({ bank, select: () => { throw new Error('boom'); } })))).rejects.toThrow('boom');
    bad.dispose();
    expect(() => updateMemoryBank({ bank: {} as MemoryBank, select: (v) => v as never })).toThrow(/updateMemoryBank: argument 'config.bank'/);
  });
});
