import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { TestScheduler } from 'rxjs/testing';
import { map } from 'rxjs';
import { KeyQueue, DEFAULT_KEY_QUEUE_CONFIG } from '../../src/memory/KeyQueue.ts';
import { updateKeyQueue } from '../../src/memory/updateKeyQueue.ts';
import { ArgumentError, StateError } from '../../src/errors.ts';
import { norm, rowsOf, useCpu } from './support.ts';

const keysNow = (q: KeyQueue) => {
  const t = q.keys();
  const rows = rowsOf(t.dataSync(), q.dim);
  t.dispose();
  return rows;
};
/** Entries from the oldest (at the pointer) to the newest. */
const fifoOrder = <T>(rows: T[], pointer: number) => [...rows.slice(pointer), ...rows.slice(0, pointer)];

const config = fc.record({ b: fc.integer({ min: 1, max: 4 }), slots: fc.integer({ min: 1, max: 5 }), d: fc.integer({ min: 1, max: 4 }), seed: fc.integer() });
const batches = (b: number, d: number) =>
  fc.array(fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }).map(Math.fround), { minLength: d, maxLength: d }), { minLength: b, maxLength: b }), { minLength: 1, maxLength: 12 });

describe('KeyQueue', () => {
  beforeAll(useCpu);

  it('is a FIFO that advances exactly B entries per step, entries never older than K/B steps', () => {
    fc.assert(
      fc.property(config.chain((c) => fc.tuple(fc.constant(c), batches(c.b, c.d))), ([c, steps]) => {
        const k = c.b * c.slots;
        const q = new KeyQueue({ size: k, dim: c.d, batchSize: c.b, seed: c.seed });
        const start = tf.memory().numTensors;
        let model = fifoOrder(keysNow(q), q.pointer); // oldest first
        steps.forEach((batch, step) => {
          const prev = keysNow(q);
          const ptr = q.pointer;
          const t = tf.tensor2d(batch, [c.b, c.d]);
          q.enqueue(t);
          t.dispose();
          const now = keysNow(q);
          // exactly the B rows at the old pointer changed, to the new keys; the pointer moved by B
          now.forEach((row, i) => expect(row).toEqual(i >= ptr && i < ptr + c.b ? batch[i - ptr] : prev[i]));
          expect(q.pointer).toBe((ptr + c.b) % k);
          // FIFO: drop the B oldest, append the B new at the end
          model = [...model.slice(c.b), ...batch];
          expect(fifoOrder(now, q.pointer)).toEqual(model);
          const ages = q.ages(step);
          ages.forEach((a, i) => {
            if (q.entrySteps()[i] >= 0) {
              expect(a).toBeGreaterThanOrEqual(0);
              expect(a).toBeLessThan(k / c.b);
            }
          });
          if (step + 1 >= k / c.b) expect(Array.from(q.entrySteps()).every((s) => s >= 0)).toBe(true);
          expect(tf.memory().numTensors).toBe(start);
        });
        expect(q.lastStep).toBe(steps.length - 1);
        q.dispose();
      }),
      { numRuns: 30 },
    );
  });

  it('starts with K random unit keys from the seed, marked step -1', () => {
    const a = new KeyQueue({ size: 8, dim: 5, batchSize: 4, seed: 9 });
    const b = new KeyQueue({ size: 8, dim: 5, batchSize: 4, seed: 9 });
    keysNow(a).forEach((r) => expect(Math.abs(norm(r) - 1)).toBeLessThan(1e-6));
    expect(keysNow(a)).toEqual(keysNow(b));
    expect(Array.from(a.entrySteps())).toEqual(new Array(8).fill(-1));
    a.dispose();
    b.dispose();
    expect(DEFAULT_KEY_QUEUE_CONFIG).toMatchObject({ size: 65536, batchSize: 256, dim: 128 });
  });

  it('enforces K a multiple of B, exactly B keys per step and increasing steps', () => {
    expect(() => new KeyQueue({ size: 10, batchSize: 4, dim: 2 })).toThrow(/KeyQueue: argument 'config.size' must be a multiple of batchSize 4/);
    const q = new KeyQueue({ size: 8, batchSize: 4, dim: 2 });
    const three = tf.zeros([3, 2]) as tf.Tensor2D;
    const four = tf.zeros([4, 2]) as tf.Tensor2D;
    expect(() => q.enqueue(three)).toThrow(/KeyQueue.enqueue: argument 'keys' must have shape \[4, 2\] \(exactly one batch\)/);
    q.enqueue(four, 3);
    expect(() => q.enqueue(four, 3)).toThrow(ArgumentError);
    q.dispose();
    expect(() => q.enqueue(four)).toThrow(StateError);
    tf.dispose([three, four]);
  });

  it('round-trips its full state through state() and JSON, and continues identically', () => {
    fc.assert(
      fc.property(config.chain((c) => fc.tuple(fc.constant(c), batches(c.b, c.d), batches(c.b, c.d))), ([c, before, after]) => {
        const q = new KeyQueue({ size: c.b * c.slots, dim: c.d, batchSize: c.b, seed: c.seed });
        const push = (queue: KeyQueue, batch: number[][]) => tf.tidy(() => queue.enqueue(tf.tensor2d(batch, [c.b, c.d])));
        before.forEach((b) => push(q, b));
        const copy = KeyQueue.fromState(q.state());
        const viaJson = KeyQueue.fromJSON(JSON.parse(JSON.stringify(q)));
        for (const other of [copy, viaJson]) expect(other.state()).toEqual(q.state());
        after.forEach((b) => [q, copy, viaJson].forEach((x) => push(x, b)));
        expect(copy.state()).toEqual(q.state());
        expect(viaJson.state()).toEqual(q.state());
        [q, copy, viaJson].forEach((x) => x.dispose());
      }),
      { numRuns: 25 },
    );
    expect(() => KeyQueue.fromState({ kind: 'MemoryBank' } as never)).toThrow(StateError);
  });
});

describe('updateKeyQueue', () => {
  beforeAll(useCpu);

  it('enqueues each step’s keys after the step and passes the value through unchanged (marbles)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const q = new KeyQueue({ size: 4, batchSize: 2, dim: 1 });
    const seen: number[][] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const steps = cold('-a-b-c|', { a: 1, b: 2, c: 3 });
      const out = steps.pipe(
        map((v) => ({ v, keys: tf.tensor2d([[v], [v + 0.5]]) })),
        updateKeyQueue({ queue: q, select: (s) => s.keys }),
        map((s) => {
          s.keys.dispose();
          seen.push(fifoOrder(keysNow(q), q.pointer).slice(2).flat());
          return s.v;
        }),
      );
      expectObservable(out).toBe('-a-b-c|', { a: 1, b: 2, c: 3 });
    });
    expect(seen).toEqual([[1, 1.5], [2, 2.5], [3, 3.5]]);
    expect(q.lastStep).toBe(2);
    q.dispose();
  });

  it('sends a wrong batch through the stream as an error (marbles)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    const q = new KeyQueue({ size: 4, batchSize: 2, dim: 1 });
    const wrong = tf.tensor2d([[1]]);
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('-a-b|', { a: 0, b: 1 }).pipe(updateKeyQueue({ queue: q, select: () => wrong }));
      expectObservable(out).toBe('-#', undefined, new ArgumentError('KeyQueue.enqueue', 'keys', 'must have shape [2, 1] (exactly one batch), got [1, 1]'));
    });
    wrong.dispose();
    q.dispose();
  });
});
