/**
 * Issue 7, item 5: streams. One bad sample never ends (errors or completes) the stream unless
 * the failure cap is reached - in augmentInPool (files and malformed in-memory samples) and in
 * fromImageFolder({ decode: true }). Transient errors (EMFILE, EAGAIN, ...) are retried with a
 * bound: a read that fails twice then works yields the sample; one that keeps failing is
 * skipped after 4 attempts, in bounded time.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { retryTransient, isTransientError } from '../../src/internal/retryTransient.ts';
import { simclr } from '../../src/augment/presets.ts';
import { SampleError, TooManyFailuresError, type Sample } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

const spec = simclr({ size: 8 });
let dir: string;
let pool: AugmentPool;
const transient = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-streams-'));
  const jpg = await encode(smoothImage(5, 16, 16, 3), 16, 16, 3, 'jpeg');
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `img${String(i).padStart(2, '0')}.jpg`), i === 9 ? Buffer.from('garbage') : jpg);
  pool = createAugmentPool({ size: 1, workerFile: new URL('./fixtures/faultyWorker.mjs', import.meta.url) });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('streams and transient errors (item 5)', () => {
  it('retryTransient: retries only transient codes, a bounded number of times', async () => {
    let calls = 0;
    const delays: number[] = [];
    const ok = await retryTransient(
      async () => {
        if (++calls <= 2) throw transient('EAGAIN');
        return 'done';
      },
      { onRetry: (_e, attempt) => delays.push(attempt) },
    );
    expect([ok, calls, delays]).toEqual(['done', 3, [1, 2]]);
    calls = 0;
    const t0 = performance.now();
    const err = await retryTransient(async () => {
      calls++;
      throw transient('EMFILE');
    }).catch((e) => e);
    const ms = performance.now() - t0;
    expect(err.code).toBe('EMFILE');
    expect(calls).toBe(4); // 1 + 3 retries
    expect(ms).toBeGreaterThanOrEqual(20 + 80 + 320 - 5);
    expect(ms).toBeLessThan(2000);
    calls = 0;
    await expect(retryTransient(async () => { calls++; throw transient('ENOENT'); })).rejects.toThrow(/ENOENT/);
    expect(calls).toBe(1); // not transient: no retry
    expect(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'ETIMEDOUT'].every((c) => isTransientError(transient(c)))).toBe(true);
    expect(isTransientError(transient('EACCES'))).toBe(false);
    console.log(`[item 5] a permanent EMFILE gives up after 4 attempts in ${ms.toFixed(0)} ms`);
  });

  it('a worker read failing twice with EMFILE still yields the sample; one that always fails is skipped after bounded retries', async () => {
    const t = mkdtempSync(join(tmpdir(), 'contrastream-emfile-'));
    try {
      const jpg = await encode(smoothImage(6, 16, 16, 3), 16, 16, 3, 'jpeg');
      for (const f of ['a.jpg', 'b-FAULT-emfile2.jpg', 'c-FAULT-emfileall.jpg', 'd.jpg']) writeFileSync(join(t, f), jpg);
      const skips: SampleError[] = [];
      const t0 = performance.now();
      const out = await lastValueFrom(fromImageFolder(t).pipe(augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: null }), toArray()));
      const ms = performance.now() - t0;
      console.log(`[item 5] EMFILE x2 -> sample kept; EMFILE always -> skipped (${skips[0]?.message.slice(0, 110)}); ${ms.toFixed(0)} ms`);
      expect(out.map((s) => s.path!.split('/').pop())).toEqual(['a.jpg', 'b-FAULT-emfile2.jpg', 'd.jpg']);
      expect(skips.length).toBe(1);
      expect(skips[0]).toMatchObject({ index: 2, reason: 'read' });
      expect(skips[0].message).toMatch(/EMFILE.*attempt 4/); // 1 + 3 retries, then reported
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });

  it('one bad file or malformed sample neither errors nor completes the stream early', async () => {
    // files: img09 is garbage; 3 epochs; the stream delivers every other sample of every epoch, in order
    const got = await lastValueFrom(fromImageFolder(dir, { epochs: 3 }).pipe(augmentInPool({ augment: spec, pool, chunkSize: 3, log: null }), toArray()));
    const expected = [0, 1, 2].flatMap((e) => [...Array(20).keys()].filter((i) => i !== 9).map((i) => `${e}:${i}`));
    expect(got.map((s) => `${s.epoch}:${s.index}`)).toEqual(expected);
    // in-memory samples with wrong pixel counts (a bad decoder upstream) fail alone
    const good = (i: number): Sample => ({ index: i, pixels: smoothImage(i, 8, 8, 1), width: 8, height: 8, channels: 1 });
    const items: Sample[] = [good(0), { ...good(1), pixels: new Uint8Array(10) }, good(2), { ...good(3), width: 0, pixels: new Uint8Array(0) }, good(4)];
    const skips: SampleError[] = [];
    const out = await lastValueFrom(from(items).pipe(augmentInPool({ augment: simclr({ size: 8, mean: [0.5], std: [0.5] }), pool, onSkip: (e) => skips.push(e), log: null }), toArray()));
    expect(out.map((s) => s.index)).toEqual([0, 2, 4]);
    expect(skips.map((s) => s.index)).toEqual([1, 3]);
    expect(skips[0].message).toMatch(/pixels hold 10 bytes for 8x8x1/);
  });

  it('fromImageFolder({ decode: true }) skips a bad file with a skip event, and stops at the cap', async () => {
    const skips: SampleError[] = [];
    const lines: string[] = [];
    const got = (await lastValueFrom(fromImageFolder(dir, { decode: true, epochs: 2, onSkip: (e) => skips.push(e), log: (l) => lines.push(l) }).pipe(toArray()))) as Sample[];
    expect(got.length).toBe(38);
    expect(skips.map((s) => [s.index, s.epoch, s.reason])).toEqual([[9, 0, 'decode'], [9, 1, 'decode']]);
    expect(lines[0]).toMatch(/fromImageFolder: skipped sample 9 '.*img09\.jpg' \(epoch 0\)/);
    // 'error' ends the stream at the bad file
    await expect(lastValueFrom(fromImageFolder(dir, { decode: true, onError: 'error' }).pipe(toArray()))).rejects.toMatchObject({ index: 9 });
    // cap 1: the first failure stops the run
    const err = await lastValueFrom(fromImageFolder(dir, { decode: true, maxConsecutiveFailures: 1, log: null }).pipe(toArray())).catch((e) => e);
    expect(err).toBeInstanceOf(TooManyFailuresError);
    expect(err.message).toContain('img09.jpg');
  });
});
