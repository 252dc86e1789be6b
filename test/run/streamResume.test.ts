/**
 * The two stream mechanisms resume and checkpoints rest on:
 * - SourceConfig.start: the plan from item k on is the full plan's tail (across epochs,
 *   shuffled, with a subset);
 * - subscribeGated: a DataSource push loop waits for the gate before pulling the next item, so
 *   asynchronous work between two items sees no later item.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { lastValueFrom, map, toArray } from 'rxjs';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { subscribeGated, type PushGate } from '../../src/sources/DataSource.ts';

const N = 11;
const images = new Uint8Array(N).map((_, i) => i);
const plan = (config: Parameters<typeof fromArrays>[1]) =>
  lastValueFrom(fromArrays({ images, width: 1, height: 1, channels: 1 }, config).pipe(map((s) => [s.epoch ?? 0, s.index] as const), toArray()));

describe('SourceConfig.start', () => {
  it('skips exactly the first `start` items of the whole plan', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1000 }), fc.boolean(), fc.integer({ min: 1, max: N }), async (start, seed, shuffle, subset) => {
        const config = { epochs: 3, seed, shuffle, subset };
        const full = await plan(config);
        expect(await plan({ ...config, start })).toEqual(full.slice(start));
      }),
      { numRuns: 40 },
    );
  });

  it('rejects a negative or fractional start', () => {
    expect(() => fromArrays({ images, width: 1, height: 1, channels: 1 }, { start: -1 })).toThrow(/config.start/);
    expect(() => fromArrays({ images, width: 1, height: 1, channels: 1 }, { start: 1.5 })).toThrow(/non-negative integer/);
  });
});

describe('subscribeGated', () => {
  it('holds the next item until the gate opens', async () => {
    let hold: Promise<void> | undefined;
    let loops = 0;
    const gate: PushGate = { wait: () => hold, attached: () => loops++ };
    const log: string[] = [];
    await new Promise<void>((resolve, reject) => {
      subscribeGated(fromArrays({ images, width: 1, height: 1, channels: 1 }, { subset: 4 }), gate, {
        next: (s) => {
          log.push(`item ${s.index}`);
          if (s.index === 1) {
            hold = new Promise<void>((r) => setTimeout(r, 30)).then(() => {
              log.push('work done');
              hold = undefined;
            });
          }
        },
        error: reject,
        complete: () => resolve(),
      });
    });
    expect(loops).toBe(1);
    expect(log).toEqual(['item 0', 'item 1', 'work done', 'item 2', 'item 3']);
  });

  it('without a gate the next item does not wait for the work', async () => {
    const log: string[] = [];
    let work: Promise<void> | undefined;
    await lastValueFrom(
      fromArrays({ images, width: 1, height: 1, channels: 1 }, { subset: 4 }).pipe(
        map((s) => {
          log.push(`item ${s.index}`);
          if (s.index === 1) work = new Promise<void>((r) => setTimeout(r, 30)).then(() => void log.push('work done'));
          return s;
        }),
        toArray(),
      ),
    );
    await work;
    expect(log).toEqual(['item 0', 'item 1', 'item 2', 'item 3', 'work done']);
  });
});
