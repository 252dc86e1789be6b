/**
 * The whole data plane with a fast source and a slow consumer: what is in flight must stay
 * under the configured limits. Records the peaks (in flight, heap) in the test output.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { pullMap } from '../../src/operators/pullMap.ts';
import { createFlowStats } from '../../src/operators/createFlowStats.ts';
import { createAugmentPool } from '../../src/augment/createAugmentPool.ts';
import { simclr } from '../../src/augment/presets.ts';
import { DataSource } from '../../src/sources/DataSource.ts';
import type { Sample } from '../../src/data.ts';
import { lastValueFrom, take, toArray } from 'rxjs';

const pool = createAugmentPool({ size: 1 });
afterAll(() => pool.destroy());

describe('bounded flow', () => {
  it('a slow consumer holds the pipeline: in flight stays within maxInFlight + (prefetch + 1) batches', async () => {
    const S = 32;
    const N = 4000;
    const images = new Uint8Array(N * S * S * 3);
    for (let i = 0; i < images.length; i += 97) images[i] = i & 255;
    let sourcePulled = 0;
    const base = fromArrays({ images, width: S, height: S, channels: 3 }, { epochs: Infinity });
    // wrap the (fast, endless) source to count what is pulled from it
    const counted = new DataSource<Sample>(() => {
      const it = base.pull();
      return {
        next: async () => {
          sourcePulled++;
          return it.next();
        },
        return: async () => it.return!(undefined),
      };
    });
    const maxInFlight = 24;
    const batchSize = 8;
    const prefetch = 2;
    const aug = createFlowStats();
    const bat = createFlowStats();
    const step = createFlowStats();
    let consumed = 0;
    let heapPeak = 0;
    const heap0 = process.memoryUsage().heapUsed;
    const steps = 12;
    await lastValueFrom(
      counted.pipe(
        augmentInPool({ augment: simclr({ size: 16 }), pool, maxInFlight, stats: aug }),
        batchWithPrefetch({ batchSize, prefetch, stats: bat }),
        pullMap(
          async (b) => {
            await new Promise((r) => setTimeout(r, 25)); // slow training step
            consumed += b.size;
            heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
            // everything pulled from the source is consumed, in a batch, or in the bounded stages
            expect(sourcePulled - consumed).toBeLessThanOrEqual(maxInFlight + (prefetch + 1) * batchSize + 1);
            return b.size;
          },
          { stats: step },
        ),
        take(steps),
        toArray(),
      ),
    );
    console.log(
      `[bounded flow] source pulled ${sourcePulled} for ${consumed} consumed; peak in flight: augmentInPool ${aug.peakInFlight} samples (limit ${maxInFlight}), ` +
        `batchWithPrefetch ${bat.peakInFlight} batches (limit ${prefetch + 1}); heap ${(heap0 / 2 ** 20).toFixed(1)} -> peak ${(heapPeak / 2 ** 20).toFixed(1)} MB`,
    );
    expect(consumed).toBe(steps * batchSize);
    expect(aug.peakInFlight).toBeLessThanOrEqual(maxInFlight);
    expect(bat.peakInFlight).toBeLessThanOrEqual(prefetch + 1);
    expect(sourcePulled).toBeLessThanOrEqual(consumed + maxInFlight + (prefetch + 1) * batchSize + 1);
    // an endless 4000-image source was not read ahead
    expect(sourcePulled).toBeLessThan(N);
  });

  it('push source (plain Observable): the unbounded buffer is reported, the work is still bounded', async () => {
    const { from } = await import('rxjs');
    const S = 8;
    const samples = Array.from({ length: 300 }, (_, i) => ({ index: i, pixels: new Uint8Array(S * S * 3), width: S, height: S, channels: 3 }));
    const aug = createFlowStats();
    const out = await lastValueFrom(from(samples).pipe(augmentInPool({ augment: simclr({ size: 8 }), pool, maxInFlight: 16, stats: aug }), toArray()));
    expect(out.length).toBe(300);
    expect(aug.peakInFlight).toBeLessThanOrEqual(16);
    expect(aug.peakUpstreamBuffered).toBe(300); // from() pushes everything at once
  });
});
