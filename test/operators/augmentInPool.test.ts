import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray, from, take } from 'rxjs';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { createFlowStats } from '../../src/operators/createFlowStats.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { applyAugment } from '../../src/augment/applyAugment.ts';
import { decodeImage } from '../../src/augment/decodeImage.ts';
import { PixelImage } from '../../src/augment/sourceImage.ts';
import { simclr, cmc } from '../../src/augment/presets.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { SampleError, type AugmentedSample } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';
import { readFileSync } from 'node:fs';

let dir: string;
let pool1: AugmentPool;
let pool2: AugmentPool;
const N = 24;
const S = 16;
const images = new Uint8Array(N * S * S * 3);

beforeAll(async () => {
  for (let i = 0; i < N; i++) images.set(smoothImage(100 + i, S, S, 3), i * S * S * 3);
  dir = mkdtempSync(join(tmpdir(), 'contrastream-pool-'));
  for (let i = 0; i < 6; i++) {
    const fmt = (['jpeg', 'png', 'webp'] as const)[i % 3];
    writeFileSync(join(dir, `img${i}.${fmt === 'jpeg' ? 'jpg' : fmt}`), await encode(smoothImage(i, 40, 30, 3), 40, 30, 3, fmt, fmt === 'jpeg' ? { progressive: i > 2 } : {}));
  }
  pool1 = createAugmentPool({ size: 1 });
  pool2 = createAugmentPool({ size: 2 });
});
afterAll(async () => {
  await Promise.all([pool1?.destroy(), pool2?.destroy()]);
  rmSync(dir, { recursive: true, force: true });
});

const views = (s: AugmentedSample[]) => s.map((x) => [x.index, x.epoch, ...x.views.map((v) => Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength).toString('base64'))]);

describe('augmentInPool', () => {
  it('gives bit-identical views on pool sizes 1 and 2 and chunk sizes, equal to in-process applyAugment', async () => {
    const spec = simclr({ size: 12, scale: [0.2, 1] });
    const src = () => fromArrays({ images, width: S, height: S, channels: 3, labels: Array.from({ length: N }, (_, i) => i % 4) }, { shuffle: true, seed: 3, epochs: 2 });
    const a = await lastValueFrom(src().pipe(augmentInPool({ augment: spec, seed: 11, pool: pool1, chunkSize: 5 }), toArray()));
    const b = await lastValueFrom(src().pipe(augmentInPool({ augment: spec, seed: 11, pool: pool2, chunkSize: 'auto' }), toArray()));
    expect(a.length).toBe(2 * N);
    expect(views(a)).toEqual(views(b));
    // order follows the source; labels travel along
    const order = await lastValueFrom(src().pipe(toArray()));
    expect(a.map((s) => [s.index, s.label])).toEqual(order.map((s) => [s.index, s.label]));
    // and equals the same computation done here
    const here = order.map((s) => ({ index: s.index, epoch: s.epoch ?? 0, views: applyAugment(new PixelImage(s.pixels, S, S, 3), spec, { seed: 11, epoch: s.epoch ?? 0, index: s.index }) }));
    expect(views(a)).toEqual(views(here as AugmentedSample[]));
    // a different seed changes the views
    const c = await lastValueFrom(src().pipe(augmentInPool({ augment: spec, seed: 12, pool: pool2 }), toArray()));
    expect(views(c)).not.toEqual(views(a));
  });

  it('decodes jpg/png/webp files once in the worker (same result as decoding here)', async () => {
    const spec = cmc({ size: 16 });
    const out = await lastValueFrom(fromImageFolder(dir).pipe(augmentInPool({ augment: spec, seed: 1, pool: pool2 }), toArray()));
    expect(out.length).toBe(6);
    expect(out[0].views.map((v) => v.shape)).toEqual([[16, 16, 1], [16, 16, 2]]);
    expect(out[0].path).toMatch(/img0\.jpg$/);
    const ref = applyAugment(await decodeImage(readFileSync(join(dir, 'img1.png'))), spec, { seed: 1, epoch: 0, index: 1 });
    expect(views([out[1]])).toEqual(views([{ ...out[1], views: ref }]));
  });

  it('turns a worker error into a SampleError naming the sample, or skips it', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'contrastream-poolbad-'));
    try {
      writeFileSync(join(bad, 'a.jpg'), await encode(smoothImage(1, 20, 20, 3), 20, 20, 3, 'jpeg'));
      writeFileSync(join(bad, 'b.png'), Buffer.from('this is not a png'));
      writeFileSync(join(bad, 'c.jpg'), await encode(smoothImage(2, 20, 20, 3), 20, 20, 3, 'jpeg'));
      const spec = simclr({ size: 8 });
      const err = await lastValueFrom(fromImageFolder(bad).pipe(augmentInPool({ augment: spec, pool: pool2, onError: 'error' }), toArray())).catch((e) => e);
      expect(err).toBeInstanceOf(SampleError);
      expect(err).toMatchObject({ index: 1, reason: 'decode' });
      expect(err.path).toMatch(/b\.png$/);
      expect(err.message).toMatch(/sample 1 \(.*b\.png\)/);
      const stats = createFlowStats();
      const skipped: SampleError[] = [];
      const ok = await lastValueFrom(fromImageFolder(bad).pipe(augmentInPool({ augment: spec, pool: pool2, onError: 'skip', onSkip: (e) => skipped.push(e), stats }), toArray()));
      expect(ok.map((s) => s.index)).toEqual([0, 2]);
      expect(stats.skipped).toBe(1);
      expect(skipped[0].index).toBe(1);
      // too large, from the header
      const big = await lastValueFrom(fromImageFolder(bad, { subset: 1 }).pipe(augmentInPool({ augment: spec, pool: pool2, maxInputPixels: 100, onError: 'error' }))).catch((e) => e);
      expect(big).toMatchObject({ index: 0, reason: 'too-large' });
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });

  it('works on plain Observables, 1-channel images, and makes (and frees) its own pool', async () => {
    const grey = Array.from({ length: 5 }, (_, i) => ({ index: i, pixels: smoothImage(i, 28, 28, 1), width: 28, height: 28, channels: 1 }));
    const out = await lastValueFrom(from(grey).pipe(augmentInPool({ augment: simclr({ size: 28, mean: [0.286], std: [0.353] }), poolSize: 1 }), toArray()));
    expect(out.map((s) => s.views[0].shape)).toEqual(Array(5).fill([28, 28, 1]));
  });

  it('stops and frees the pool work when unsubscribed early', async () => {
    const stats = createFlowStats();
    const src = fromArrays({ images, width: S, height: S, channels: 3 }, { epochs: Infinity });
    const got = await lastValueFrom(src.pipe(augmentInPool({ augment: simclr({ size: 8 }), pool: pool2, stats, maxInFlight: 16 }), take(30), toArray()));
    expect(got.length).toBe(30);
    expect(stats.pulled).toBeLessThanOrEqual(30 + 16);
  });
});
