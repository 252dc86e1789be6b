/**
 * Issue 7, item 4: worker faults. A worker that exits mid-task, runs out of its heap
 * (resourceLimits) or hangs (per-task timeout, via AbortSignal) fails only its task with a
 * typed WorkerError; the pool replaces it and the next tasks succeed. Worker start-up failures
 * surface as WorkerError 'init' without hanging; pool-level 'error' events are handled.
 * Faults come from a test-only worker module (fixtures/faultyWorker.mjs, via `workerFile`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { simclr } from '../../src/augment/presets.ts';
import type { AugmentTask } from '../../src/augment/workerProtocol.ts';
import { SampleError, WorkerError } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

const FAULTY = new URL('./fixtures/faultyWorker.mjs', import.meta.url);
const spec = simclr({ size: 8 });
let dir: string;

const task = (file: string, index = 0): AugmentTask => ({ spec, seed: 0, maxInputPixels: 1e6, exactJpeg: false, items: [{ index, epoch: 0, path: join(dir, file), decodeChannels: 3 }] });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-faults-'));
  const jpg = await encode(smoothImage(3, 16, 16, 3), 16, 16, 3, 'jpeg');
  for (const f of ['a.jpg', 'b.jpg', 'c-FAULT-exit.jpg', 'd.jpg', 'e-FAULT-spin.jpg', 'f-FAULT-sleep.jpg', 'g-FAULT-oom.jpg', 'h-FAULT-late.jpg', 'i.jpg']) writeFileSync(join(dir, f), jpg);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectWorkerError(p: Promise<unknown>, kind: string): Promise<WorkerError> {
  const err = await p.then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(WorkerError);
  expect((err as WorkerError).kind).toBe(kind);
  return err as WorkerError;
}

describe('worker faults (item 4)', () => {
  let pool: AugmentPool;
  const poolErrors: unknown[] = [];
  beforeAll(() => {
    pool = createAugmentPool({ size: 1, workerFile: FAULTY, taskTimeoutMs: 1500, onPoolError: (e) => poolErrors.push(e) });
  });
  afterAll(() => pool?.destroy());

  it('exit, out-of-memory and hang (timeout) each fail only their task with a typed error; the next task succeeds', async () => {
    expect((await pool.run(task('a.jpg'), [])).items[0]).toHaveProperty('outputs');
    const t0 = performance.now();
    const exit = await expectWorkerError(pool.run(task('c-FAULT-exit.jpg'), []), 'exit');
    expect(exit.message).toMatch(/exited with code: 7/);
    expect((await pool.run(task('b.jpg'), [])).items[0]).toHaveProperty('outputs');
    // out of memory, on a pool without a timeout (allocating up to the limit can be slow on a busy machine)
    const oomPool = createAugmentPool({ size: 1, workerFile: FAULTY, taskTimeoutMs: 0, resourceLimits: { maxOldGenerationSizeMb: 128 } });
    let oom: WorkerError;
    try {
      oom = await expectWorkerError(oomPool.run(task('g-FAULT-oom.jpg'), []), 'out-of-memory');
      expect(oom.message).toMatch(/maxOldGenerationSizeMb/);
      expect((await oomPool.run(task('d.jpg'), [])).items[0]).toHaveProperty('outputs');
    } finally {
      await oomPool.destroy();
    }
    expect((await pool.run(task('d.jpg'), [])).items[0]).toHaveProperty('outputs');
    const t1 = performance.now();
    const spin = await expectWorkerError(pool.run(task('e-FAULT-spin.jpg'), []), 'timeout');
    const spinMs = performance.now() - t1;
    expect(spin.message).toMatch(/taskTimeoutMs 1500/);
    expect(spinMs).toBeGreaterThanOrEqual(1400);
    expect(spinMs).toBeLessThan(10_000);
    await expectWorkerError(pool.run(task('f-FAULT-sleep.jpg'), []), 'timeout');
    // a caller's AbortSignal aborts a task too
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expectWorkerError(pool.run(task('f-FAULT-sleep.jpg'), [], ac.signal), 'aborted');
    const after = await pool.run(task('i.jpg', 5), []);
    expect(after.items[0]).toMatchObject({ index: 5 });
    expect(after.items[0]).toHaveProperty('outputs');
    console.log(`[item 4] exit -> ${exit.kind}, oom -> ${oom.kind}, spin -> ${spin.kind} after ${spinMs.toFixed(0)} ms; all faults + recoveries in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it('handles a worker failing outside any task (pool-level error): no crash, a typed error at most, then recovery', async () => {
    const before = poolErrors.length;
    await pool.run(task('h-FAULT-late.jpg'), []);
    await new Promise((r) => setTimeout(r, 400)); // the worker throws 200 ms after its task
    // Piscina reports it as a pool 'error' event or fails the worker's next task: either way
    // the process did not crash, the error is typed, and the pool runs the task after it
    const next = await pool.run(task('a.jpg'), []).then(() => 'ok', (e) => e);
    if (next !== 'ok') {
      expect(next).toBeInstanceOf(WorkerError);
      expect(next.message).toMatch(/late failure outside a task/);
    }
    console.log(`[item 4] idle-worker failure: ${poolErrors.length - before} pool-level error events, next task ${next === 'ok' ? 'ok' : `failed with WorkerError ${next.kind}`}`);
    expect((await pool.run(task('b.jpg'), [])).items[0]).toHaveProperty('outputs');
  });

  it('augmentInPool: a dying worker costs only its own sample (chunk retried one sample per task)', async () => {
    const p = createAugmentPool({ size: 2, workerFile: FAULTY, taskTimeoutMs: 1500, resourceLimits: { maxOldGenerationSizeMb: 160 } });
    try {
      const skips: SampleError[] = [];
      // exit, spin and oom among good files (not h-FAULT-late, whose delayed crash would hit
      // whichever task runs then; f-FAULT-sleep times out like e-FAULT-spin, tested above)
      const out = await lastValueFrom(fromImageFolder(dir, { subset: [0, 1, 2, 3, 4, 6, 8] }).pipe(augmentInPool({ augment: spec, pool: p, chunkSize: 4, onSkip: (e) => skips.push(e), log: null }), toArray()));
      const names = skips.map((s) => s.path!.split('/').pop());
      console.log(`[item 4] augmentInPool over 7 files with 3 faulty: ${out.length} samples, skipped ${names.join(', ')} (${skips.map((s) => s.reason).join(', ')})`);
      expect(out.map((s) => s.path!.split('/').pop())).toEqual(['a.jpg', 'b.jpg', 'd.jpg', 'i.jpg']);
      expect(names.sort()).toEqual(['c-FAULT-exit.jpg', 'e-FAULT-spin.jpg', 'g-FAULT-oom.jpg']);
      expect(skips.every((s) => s.reason === 'worker' && s.cause instanceof WorkerError)).toBe(true);
      expect(skips.find((s) => s.path!.includes('exit'))!.message).toMatch(/2 times/); // retried once, alone
      // with onError 'error' the failure ends the stream, naming the sample
      const err = await lastValueFrom(fromImageFolder(dir, { subset: [2] }).pipe(augmentInPool({ augment: spec, pool: p, onError: 'error' }), toArray())).catch((e) => e);
      expect(err).toBeInstanceOf(SampleError);
      expect(err.message).toContain('c-FAULT-exit.jpg');
    } finally {
      await p.destroy();
    }
  }, 40_000);

  it('worker start-up failures surface as WorkerError init, never hang (with and without the bootstrap marker)', async () => {
    for (const file of ['brokenWorker.mjs', 'brokenTsWorker.mjs']) {
      const errors: unknown[] = [];
      const p = createAugmentPool({ size: 2, workerFile: new URL(`./fixtures/${file}`, import.meta.url), onPoolError: (e) => errors.push(e) });
      try {
        const t0 = performance.now();
        // queued right away, and again after the workers have failed
        const first = await expectWorkerError(p.run(task('a.jpg'), []), 'init');
        await new Promise((r) => setTimeout(r, 300));
        const later = await expectWorkerError(p.run(task('b.jpg'), []), 'init');
        const ms = performance.now() - t0;
        console.log(`[item 4] ${file}: init failure surfaced in ${ms.toFixed(0)} ms (${errors.length} pool-level error events handled): ${first.message.slice(0, 90)}`);
        expect(ms).toBeLessThan(5000);
        expect(`${first.message} ${later.message}`).toMatch(/codec addon|doesNotExist/);
        // and through the operator: the stream errors (does not skip 50 samples or hang)
        const err = await lastValueFrom(fromImageFolder(dir).pipe(augmentInPool({ augment: spec, pool: p, log: null }), toArray())).catch((e) => e);
        expect(err).toBeInstanceOf(WorkerError);
        expect(err.kind).toBe('init');
      } finally {
        await p.destroy();
      }
    }
  });

  it('checks its arguments and rejects tasks after destroy()', async () => {
    expect(() => createAugmentPool({ taskTimeoutMs: -1 })).toThrow(/taskTimeoutMs/);
    expect(() => createAugmentPool({ size: 0 })).toThrow(/size/);
    const p = createAugmentPool({ size: 1 });
    await p.destroy();
    await expectWorkerError(p.run(task('a.jpg'), []), 'destroyed');
  });
});
