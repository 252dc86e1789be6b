/**
 * Issue 7, item 1: corrupt images. 100 JPEGs with a truncated one and a zero-byte one among
 * them: every epoch completes with 98 samples and a skip event (callback and log line) names
 * both files. N consecutive failures (default 50) stop the run with TooManyFailuresError.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { simclr } from '../../src/augment/presets.ts';
import { SampleError, TooManyFailuresError, type ArrayBatch } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

let dir: string;
let pool: AugmentPool;
const spec = simclr({ size: 8 });
const name = (i: number) => `img${String(i).padStart(3, '0')}.jpg`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-corrupt-'));
  for (let i = 0; i < 100; i++) {
    const jpg = await encode(smoothImage(i, 16, 12, 3), 16, 12, 3, 'jpeg');
    if (i === 31) writeFileSync(join(dir, name(i)), jpg.subarray(0, Math.floor(jpg.length * 0.6))); // truncated
    else if (i === 77) writeFileSync(join(dir, name(i)), Buffer.alloc(0)); // zero bytes
    else writeFileSync(join(dir, name(i)), jpg);
  }
  pool = createAugmentPool({ size: 2 });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('corrupt images (item 1)', () => {
  it('completes every epoch with 98 samples and names both bad files in skip events and log lines', async () => {
    const skips: SampleError[] = [];
    const lines: string[] = [];
    const batches = await lastValueFrom(
      fromImageFolder(dir, { epochs: 2, shuffle: true, seed: 5 }).pipe(
        augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: (l) => lines.push(l) }),
        batchWithPrefetch({ batchSize: 10 }),
        toArray(),
      ),
    );
    const perEpoch = [0, 1].map((e) => batches.filter((b: ArrayBatch) => b.epochs[0] === e).reduce((n, b) => n + b.size, 0));
    const seen = batches.flatMap((b) => Array.from(b.indices));
    console.log(`[item 1] samples per epoch ${perEpoch.join(', ')}; skip events: ${skips.map((s) => `${s.path!.split('/').pop()}@epoch${s.epoch}(${s.reason})`).join(', ')}`);
    console.log(`[item 1] log line: ${lines[0]}`);
    expect(perEpoch).toEqual([98, 98]);
    expect(seen).not.toContain(31);
    expect(seen).not.toContain(77);
    expect(skips.map((s) => [s.index, s.epoch, s.reason]).sort()).toEqual([
      [31, 0, 'decode'],
      [31, 1, 'decode'],
      [77, 0, 'decode'],
      [77, 1, 'decode'],
    ]);
    for (const s of skips) expect(s).toBeInstanceOf(SampleError);
    expect(skips.filter((s) => s.index === 31).every((s) => s.path!.endsWith(name(31)))).toBe(true);
    expect(skips.filter((s) => s.index === 77).every((s) => s.path!.endsWith(name(77)))).toBe(true);
    expect(lines.length).toBe(4);
    expect(lines.filter((l) => l.includes(name(31))).length).toBe(2);
    expect(lines.filter((l) => l.includes(name(77)) && /empty|0 bytes/.test(l)).length).toBe(2);
    expect(lines.find((l) => l.includes(name(31)))).toMatch(/truncated/i);
  });

  it("with onError: 'error' the first bad file ends the stream with a SampleError naming it", async () => {
    const err = await lastValueFrom(fromImageFolder(dir).pipe(augmentInPool({ augment: spec, pool, onError: 'error' }), toArray())).catch((e) => e);
    expect(err).toBeInstanceOf(SampleError);
    expect(err.index).toBe(31);
    expect(err.message).toContain(name(31));
  });

  it('stops after 50 consecutive failures by default with TooManyFailuresError; a success resets the count', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'contrastream-allbad-'));
    try {
      const good = await encode(smoothImage(1, 16, 12, 3), 16, 12, 3, 'jpeg');
      // a0..a2 good, b00..b48 bad (49 in a row), c good, d00..d59 bad
      for (let i = 0; i < 3; i++) writeFileSync(join(bad, `a${i}.jpg`), good);
      for (let i = 0; i < 49; i++) writeFileSync(join(bad, `b${String(i).padStart(2, '0')}.jpg`), Buffer.alloc(0));
      writeFileSync(join(bad, 'c.jpg'), good);
      for (let i = 0; i < 60; i++) writeFileSync(join(bad, `d${String(i).padStart(2, '0')}.jpg`), Buffer.from('not an image'));
      const skips: SampleError[] = [];
      const got: number[] = [];
      const err = await new Promise<unknown>((resolve) => {
        fromImageFolder(bad)
          .pipe(augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: null }))
          .subscribe({ next: (s) => got.push(s.index), error: resolve, complete: () => resolve(undefined) });
      });
      console.log(`[item 1] cap: ${got.length} samples, ${skips.length} skips, then ${(err as Error)?.name}: ${(err as Error)?.message.slice(0, 160)}`);
      expect(err).toBeInstanceOf(TooManyFailuresError);
      expect((err as TooManyFailuresError).consecutive).toBe(50);
      expect(got).toEqual([0, 1, 2, 52]); // the 49 bad files in a row did not stop the run
      expect(skips.length).toBe(49 + 50);
      expect((err as Error).message).toContain('d49.jpg');
      expect((err as TooManyFailuresError).failures.at(-1)!.path).toMatch(/d49\.jpg$/);
      // a configurable cap
      const e2 = await lastValueFrom(fromImageFolder(bad).pipe(augmentInPool({ augment: spec, pool, maxConsecutiveFailures: 5, log: null }), toArray())).catch((e) => e);
      expect(e2).toBeInstanceOf(TooManyFailuresError);
      expect(e2.consecutive).toBe(5);
      expect(e2.failures.at(-1).path).toMatch(/b04\.jpg$/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
