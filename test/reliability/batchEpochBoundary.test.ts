/**
 * Data-plane bug fix: batchWithPrefetch batches never straddle epochs. With dropLast every
 * epoch gives floor(n / B) batches (step counts do not drift), and no batch repeats a sample.
 */
import { describe, it, expect } from 'vitest';
import { from, lastValueFrom, map, toArray } from 'rxjs';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import type { ArrayBatch, Sample } from '../../src/data.ts';

const N = 10;
const images = new Uint8Array(N * 4).map((_, i) => i >> 2); // sample i has pixels = i
const source = (epochs: number) => fromArrays({ images, width: 2, height: 2, channels: 1 }, { epochs, shuffle: true, seed: 9 });

function summarize(batches: { indices: Int32Array; epochs: Int32Array; views: { data: ArrayLike<number> }[] }[]) {
  return batches.map((b) => {
    const idx = Array.from(b.indices);
    const epochs = new Set(Array.from(b.epochs));
    // rows hold the right pixels (no stale rows from a recycled array)
    idx.forEach((i, r) => expect(b.views[0].data[r * 4]).toBe(i));
    return { epoch: [...epochs], size: idx.length, distinct: new Set(idx).size };
  });
}

describe('batchWithPrefetch epoch boundaries', () => {
  for (const mode of ['pull', 'push'] as const) {
    it(`${mode} mode: dropLast gives floor(n/B) single-epoch batches per epoch; without it the tail is short`, async () => {
      const src = async (e: number) => (mode === 'pull' ? source(e) : from((await lastValueFrom(source(e).pipe(toArray()))) as Sample[]));
      const copy = (b: ArrayBatch) => ({ indices: b.indices.slice(), epochs: b.epochs.slice(), views: [{ data: Array.from(b.views[0].data) }] });
      const dropped = await lastValueFrom((await src(3)).pipe(batchWithPrefetch({ batchSize: 4, dropLast: true, prefetch: 1 }), map(copy), toArray()));
      const d = summarize(dropped);
      console.log(`[batch epochs] ${mode} dropLast: ${d.map((b) => `e${b.epoch}:${b.size}`).join(' ')}`);
      expect(d.length).toBe(3 * Math.floor(N / 4));
      expect(d.map((b) => b.epoch)).toEqual([[0], [0], [1], [1], [2], [2]]);
      expect(d.every((b) => b.size === 4 && b.distinct === 4)).toBe(true);
      const kept = await lastValueFrom((await src(3)).pipe(batchWithPrefetch({ batchSize: 4, prefetch: 1 }), map(copy), toArray()));
      const k = summarize(kept);
      expect(k.map((b) => [b.epoch[0], b.size])).toEqual([[0, 4], [0, 4], [0, 2], [1, 4], [1, 4], [1, 2], [2, 4], [2, 4], [2, 2]]);
      expect(k.every((b) => b.epoch.length === 1 && b.distinct === b.size)).toBe(true);
      // every epoch still covers every sample exactly once
      for (const e of [0, 1, 2]) {
        const rows = kept.filter((b) => b.epochs[0] === e).flatMap((b) => Array.from(b.indices));
        expect(rows.sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
      }
    });
  }
});
