/**
 * Issue 7, item 7 (soak): 5,000 augmentations, measured after a 10,000-augmentation warm-up (JPEG decode + two SimCLR views in the worker
 * pool, batched) with RSS sampled every 100 (after a main-thread GC). After a 1,000-augmentation
 * warm-up the slope of RSS (Theil-Sen, robust to the allocator's step jumps) must be near zero:
 * below 2 MB per 1,000 augmentations (2 KB per augmentation; least squares measured -0.1 to
 * +1.2 MB), where leaking one augmentation's outputs would cost ~25 MB per 1,000
 * and leaking its decoded source image ~18 MB.
 *
 * The workers run with a bounded V8 heap (resourceLimits, as a long run should): with V8's
 * default limits each worker's heap grows lazily towards its GC threshold, which looks like a
 * slope of ~2-3 MB per 1,000 for the first tens of thousands of augmentations (measured over
 * 25,000: 228 -> 275 MB with dips) although nothing leaks; bounded, RSS is flat (measured over
 * 25,000: 193 -> 194 MB, slope -41 KB per 1,000). A leak of JS objects would now end in
 * out-of-memory worker errors, and a native leak (sharp, ArrayBuffers) still shows in RSS.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { pullValues } from '../../src/sources/DataSource.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { simclr } from '../../src/augment/presets.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let dir: string;
let pool: AugmentPool;
const FILES = 50;
/** Measured augmentations after the warm-up (a longer soak: CONTRASTREAM_SOAK_MEASURED=25000). */
const MEASURED = Number(process.env.CONTRASTREAM_SOAK_MEASURED ?? 5000);
const EVERY = 100;
/**
 * Warm-up: each worker's bounded V8 heap still grows towards its limit for ~10,000
 * augmentations (measured over 30,000 after the chunk-buffer reuse made the pool ~3x faster:
 * 179 MB -> 205 MB at ~11,000, then flat 204-207 MB and falling to 198 MB).
 */
const WARMUP = 10000;
const TOTAL = WARMUP + MEASURED;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-soak-'));
  for (let i = 0; i < FILES; i++) writeFileSync(join(dir, `${i}.jpg`), await encode(smoothImage(i, 96, 64, 3), 96, 64, 3, 'jpeg'));
  pool = createAugmentPool({ size: 2, resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** Theil-Sen slope: the median of the pairwise slopes (robust to the allocator's step jumps of RSS). */
function theilSen(xs: number[], ys: number[]): number {
  const s: number[] = [];
  for (let i = 0; i < xs.length; i++) for (let j = i + 1; j < xs.length; j++) s.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  s.sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Least-squares slope (reported alongside). */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

describe('augmentation soak (item 7)', () => {
  it('5,000 augmentations after a 10,000 warm-up: RSS slope is near zero', async () => {
    const source = fromImageFolder(dir, { epochs: TOTAL / FILES, shuffle: true, seed: 1 });
    const skipped: unknown[] = [];
    const batches = source.pipe(augmentInPool({ augment: simclr({ size: 32 }), pool, seed: 2, onError: 'error', onSkip: (e) => skipped.push(e) }), batchWithPrefetch({ batchSize: 50, prefetch: 2 }));
    const xs: number[] = [];
    const ys: number[] = [];
    let n = 0;
    let checksum = 0;
    const t0 = performance.now();
    for await (const b of pullValues(batches)) {
      checksum += b.views[0].data[0] + b.views[1].data[b.views[1].data.length - 1];
      n += b.size;
      if (n % EVERY === 0) {
        gc();
        xs.push(n);
        ys.push(process.memoryUsage().rss / 1024);
      }
    }
    const ms = performance.now() - t0;
    expect(n).toBe(TOTAL); // no sample lost (no worker ran out of its bounded heap)
    expect(skipped).toEqual([]);
    expect(Number.isFinite(checksum)).toBe(true);
    const after = xs.map((x, i) => [x, ys[i]]).filter(([x]) => x > WARMUP);
    const kbPer1000 = theilSen(after.map((p) => p[0]), after.map((p) => p[1])) * 1000;
    const lsqKbPer1000 = slope(after.map((p) => p[0]), after.map((p) => p[1])) * 1000;
    const rssMb = ys.filter((_, i) => i % 5 === 4).map((y) => (y / 1024).toFixed(0));
    console.log(`[item 7] soak: ${MEASURED} augmentations after ${WARMUP} warm-up (2 views, 32 px, from 96x64 JPEGs) in ${(ms / 1000).toFixed(1)} s; RSS MB every 500: ${rssMb.join(' ')}; slope after ${WARMUP} warm-up: ${kbPer1000.toFixed(0)} KB per 1000 augmentations (Theil-Sen; least squares ${lsqKbPer1000.toFixed(0)})`);
    // A leak shows as growth; a falling RSS (the allocator returning pages after warm-up) is fine.
    expect(kbPer1000).toBeLessThan(2048);
  });
});
