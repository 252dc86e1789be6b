/**
 * augmentInPool's result buffers are reused once the consumer marks samples done
 * (SAMPLE_DONE; batchWithPrefetch does after copying), without changing any output; and the
 * views are the same for a seed whatever the pool size, chunk size or process.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { augmentInPool, SAMPLE_DONE } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { pullValues } from '../../src/sources/DataSource.ts';
import { simclr } from '../../src/augment/presets.ts';
import type { AugmentedSample } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

const run = promisify(execFile);
const N = 40;
let dir: string;
let pool: AugmentPool;
const spec = simclr({ size: 24, scale: [0.2, 1] });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-recycle-'));
  for (let i = 0; i < N; i++) {
    writeFileSync(join(dir, `${String(i).padStart(3, '0')}.jpg`), await encode(smoothImage(300 + i, 64, 48, 3), 64, 48, 3, 'jpeg'));
  }
  pool = createAugmentPool({ size: 2 });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (v: { data: Float32Array | Uint8Array }) => Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64');

/** Digest of batches as augmentDigest.script.ts computes it. */
async function digestHere(seed: number, chunkSize: number, batchSize: number, p: AugmentPool): Promise<{ digest: string; rows: number }> {
  const hash = createHash('sha256');
  let rows = 0;
  const batches = fromImageFolder(dir, { shuffle: true, seed: 5 }).pipe(augmentInPool({ augment: spec, seed, pool: p, chunkSize }), batchWithPrefetch({ batchSize }));
  for await (const b of pullValues(batches)) {
    hash.update(Buffer.from(b.indices.buffer, b.indices.byteOffset, b.indices.byteLength));
    for (const v of b.views) hash.update(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
    rows += b.size;
  }
  return { digest: hash.digest('hex'), rows };
}

describe('augmentInPool result buffers and determinism', () => {
  it('batches made through recycled buffers hold exactly the views of a run without recycling', async () => {
    // reference: samples kept (never marked done), so every chunk has its own buffer
    const kept = await lastValueFrom(fromImageFolder(dir, { shuffle: true, seed: 5 }).pipe(augmentInPool({ augment: spec, seed: 9, pool, chunkSize: 3 }), toArray()));
    expect(kept.length).toBe(N);
    const rows: string[][] = [];
    const batches = fromImageFolder(dir, { shuffle: true, seed: 5 }).pipe(augmentInPool({ augment: spec, seed: 9, pool, chunkSize: 3, maxInFlight: 8 }), batchWithPrefetch({ batchSize: 7 }));
    for await (const b of pullValues(batches)) {
      const len = b.views.map((v) => v.data.length / b.size);
      for (let i = 0; i < b.size; i++) {
        rows.push([String(b.indices[i]), ...b.views.map((v, k) => bytes({ data: v.data.subarray(i * len[k], (i + 1) * len[k]) }))]);
      }
    }
    expect(rows).toEqual(kept.map((s) => [String(s.index), ...s.views.map(bytes)]));
  });

  it('a chunk buffer goes back to a worker once all its samples are done (their views detach), not before', async () => {
    const samples: AugmentedSample[] = [];
    const it = pullValues(fromImageFolder(dir).pipe(augmentInPool({ augment: spec, seed: 1, pool, chunkSize: 4, maxInFlight: 8 })))[Symbol.asyncIterator]();
    const done = (s: AugmentedSample) => (s as unknown as { [SAMPLE_DONE]: () => void })[SAMPLE_DONE]();
    // first chunk (samples 0-3): mark three done; the buffer must stay attached
    for (let i = 0; i < 4; i++) samples.push((await it.next()).value as AugmentedSample);
    const first = samples[0].views[0].data;
    expect(typeof (samples[0] as unknown as Record<symbol, unknown>)[SAMPLE_DONE]).toBe('function');
    for (let i = 0; i < 3; i++) done(samples[i]);
    for (let i = 4; i < 16; i++) samples.push((await it.next()).value as AugmentedSample);
    expect(first.byteLength).toBeGreaterThan(0); // sample 3 not done: still ours
    expect(bytes(samples[3].views[0]).length).toBeGreaterThan(0);
    done(samples[3]);
    // the next chunks dispatched take the freed buffer: it is transferred (detached here)
    for (let i = 16; i < 32; i++) samples.push((await it.next()).value as AugmentedSample);
    expect(first.byteLength).toBe(0);
    await it.return?.();
  });

  it('same seed -> same batches in another process, with another pool size and chunk size', async () => {
    const here = await digestHere(4, 3, 8, pool);
    expect(here.rows).toBe(N);
    const script = new URL('./augmentDigest.script.ts', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, dir, '4', '1', '5', '8'], { cwd: new URL('../..', import.meta.url).pathname, timeout: 40_000 });
    const there = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(there).toEqual(here);
    // and the digest does depend on the seed
    expect((await digestHere(5, 3, 8, pool)).digest).not.toBe(here.digest);
  }, 45_000);
});
