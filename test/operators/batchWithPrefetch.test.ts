import { describe, it, expect } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { lastValueFrom, map, toArray } from 'rxjs';
import { batchWithPrefetch, assembleBatch } from '../../src/operators/batchWithPrefetch.ts';
import { createFlowStats } from '../../src/operators/createFlowStats.ts';
import { DataSource } from '../../src/sources/DataSource.ts';
import { BatchShapeError, type ArrayBatch, type AugmentedSample, type Sample } from '../../src/data.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';

const sample = (index: number, label?: number): AugmentedSample => ({
  index,
  epoch: 0,
  label,
  views: [
    { data: new Float32Array([index, index + 0.5]), shape: [1, 2, 1] },
    { data: new Uint8Array([index]), shape: [1, 1, 1] },
  ],
});

/** A pullable source of `n` samples that counts how many were pulled. */
function counting(n: number) {
  const state = { pulled: 0 };
  const src = new DataSource<AugmentedSample>(() => {
    let i = 0;
    return {
      async next() {
        if (i >= n) return { done: true, value: undefined };
        state.pulled++;
        return { done: false, value: sample(i++) };
      },
      async return() {
        return { done: true, value: undefined };
      },
    };
  });
  return { src, state };
}

describe('batchWithPrefetch', () => {
  it('push mode (marbles): groups values as they arrive, emits a short last batch unless dropLast', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const values = { a: 0, b: 1, c: 2, d: 3, e: 4 };
      const src = cold('a-b-c-d-e|', values).pipe(map((i) => sample(i)));
      const rows = (b: ArrayBatch) => Array.from(b.indices);
      expectObservable(src.pipe(batchWithPrefetch({ batchSize: 2 }), map(rows))).toBe('--x---y--(z|)', { x: [0, 1], y: [2, 3], z: [4] });
      expectObservable(src.pipe(batchWithPrefetch({ batchSize: 2, dropLast: true }), map(rows))).toBe('--x---y--|', { x: [0, 1], y: [2, 3] });
      expectObservable(cold('a-#', values).pipe(map((i) => sample(i)), batchWithPrefetch({ batchSize: 2 }), map(rows))).toBe('--#');
    });
  });

  it('assembles NHWC views, labels (-1 where missing) and indices', () => {
    const b = assembleBatch([sample(3, 7), sample(4)]);
    expect(b.views[0].shape).toEqual([2, 1, 2, 1]);
    expect(Array.from(b.views[0].data)).toEqual([3, 3.5, 4, 4.5]);
    expect(b.views[1].data).toBeInstanceOf(Uint8Array);
    expect(Array.from(b.labels!)).toEqual([7, -1]);
    expect(Array.from(b.indices)).toEqual([3, 4]);
    const plain: Sample = { index: 9, pixels: new Uint8Array(6), width: 3, height: 2, channels: 1 };
    expect(assembleBatch([plain]).views[0].shape).toEqual([1, 2, 3, 1]);
  });

  it('rejects mixed shapes with BatchShapeError', () => {
    const odd = sample(1);
    odd.views[0] = { data: new Float32Array(3), shape: [1, 3, 1] };
    expect(() => assembleBatch([sample(0), odd])).toThrow(BatchShapeError);
  });

  it('pull mode: never more than prefetch + 1 batches alive, whatever the consumer does', async () => {
    const { src, state } = counting(100);
    const stats = createFlowStats();
    const it = src.pipe(batchWithPrefetch({ batchSize: 4, prefetch: 2, stats })) as DataSource<ArrayBatch>;
    const pull = it.pull();
    const held: ArrayBatch[] = [];
    for (let k = 0; k < 3; k++) {
      const r = await pull.next();
      held.push(r.value!); // the consumer keeps every batch (never releases)
    }
    await new Promise((r) => setTimeout(r, 30));
    // 3 batches alive = prefetch + 1: nothing more is pulled
    expect(state.pulled).toBe(12);
    expect(stats.peakInFlight).toBe(3);
    held[0].release();
    await new Promise((r) => setTimeout(r, 30));
    expect(state.pulled).toBe(16); // one batch freed, one more filled
    await pull.return?.(undefined);
  });

  it('for-await and subscribe release batches when the consumer moves on', async () => {
    const stats = createFlowStats();
    const { src } = counting(40);
    let n = 0;
    for await (const b of src.pipe(batchWithPrefetch({ batchSize: 4, prefetch: 1, stats })) as DataSource<ArrayBatch>) {
      n += b.size;
      expect(stats.inFlight).toBeLessThanOrEqual(2);
    }
    expect(n).toBe(40);
    expect(stats.inFlight).toBe(0);
    // subscribe: a batch is released when `next` returns, unless retained (then it counts
    // against the bound until released: an asynchronous consumer applies backpressure)
    const seen: ArrayBatch[] = [];
    const retained: ArrayBatch[] = [];
    const s2 = createFlowStats();
    await lastValueFrom(
      fromArrays({ images: new Uint8Array(60), width: 2, height: 3, channels: 1 }).pipe(
        batchWithPrefetch({ batchSize: 3, prefetch: 1, stats: s2 }),
        map((b) => {
          seen.push(b);
          if (b.indices[0] % 2 === 0) {
            retained.push(b.retain());
            setTimeout(() => b.release(), 5);
          }
          return b.size;
        }),
        toArray(),
      ),
    );
    expect(seen.length).toBe(4);
    expect(seen.filter((b) => !retained.includes(b)).every((b) => b.released)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(retained.every((b) => b.released)).toBe(true);
    expect(s2.peakInFlight).toBeLessThanOrEqual(2);
  });

  it('reuses the arrays of released batches, with the right contents every time', async () => {
    const { src } = counting(64);
    const buffers = new Set<ArrayBufferLike>();
    let batches = 0;
    for await (const b of src.pipe(batchWithPrefetch({ batchSize: 4, prefetch: 1 })) as DataSource<ArrayBatch>) {
      batches++;
      buffers.add(b.views[0].data.buffer);
      const rows = Array.from(b.indices);
      expect(Array.from(b.views[0].data)).toEqual(rows.flatMap((i) => [i, i + 0.5]));
      expect(Array.from(b.views[1].data)).toEqual(rows);
    }
    expect(batches).toBe(16);
    expect(buffers.size).toBeLessThanOrEqual(3); // prefetch + 2 sets at most, reused
  });
});

