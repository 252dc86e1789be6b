/**
 * Issue 7, item 9b: dataset paths, symlinks included, stay under the dataset root. Links to
 * files or folders outside (absolute or relative, directly or through a chain of links) make
 * the listing fail with PathEscapeError; a file swapped for an escaping link after the listing
 * is refused when read (in the worker, and by fromImageFolder({ decode: true })); crafted
 * ImageFile items pointing outside their root are refused; the outside bytes never come out.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync, unlinkSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { listImageFolder } from '../../src/sources/listImageFolder.ts';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { PathEscapeError, SampleError, type ImageFile } from '../../src/data.ts';
import type { AugmentSpec } from '../../src/augment/spec.ts';
import { resize } from '../../src/augment/spec.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

let base: string;
let root: string;
let outside: string;
let pool: AugmentPool;
const spec: AugmentSpec = { views: [[resize(4)]] };

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'contrastream-escape-')));
  root = join(base, 'data');
  outside = join(base, 'secret');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(outside);
  const img = (seed: number) => encode(smoothImage(seed, 8, 8, 3), 8, 8, 3, 'png');
  writeFileSync(join(root, 'a', '1.png'), await img(1));
  writeFileSync(join(root, 'a', '2.png'), await img(2));
  writeFileSync(join(outside, 'secret.png'), await img(99));
  pool = createAugmentPool({ size: 1 });
});
afterAll(async () => {
  await pool?.destroy();
  rmSync(base, { recursive: true, force: true });
});

async function withLink(target: string, at: string, body: () => Promise<void>): Promise<void> {
  symlinkSync(target, at);
  try {
    await body();
  } finally {
    unlinkSync(at);
  }
}

describe('dataset paths stay under the root (item 9b)', () => {
  it('links that escape (file, folder, relative, chained) fail the listing with PathEscapeError naming them', async () => {
    const cases: [string, string][] = [
      [join(outside, 'secret.png'), join(root, 'a', 'file-link.png')],
      [outside, join(root, 'a', 'dir-link')],
      ['../../secret/secret.png', join(root, 'a', 'relative-link.png')],
    ];
    for (const [target, at] of cases) {
      await withLink(target, at, async () => {
        const err = await listImageFolder(root).catch((e) => e);
        expect(err, at).toBeInstanceOf(PathEscapeError);
        expect(err.path).toBe(at);
        expect(err.message).toContain('outside the dataset root');
        await expect(lastValueFrom(fromImageFolder(root))).rejects.toBeInstanceOf(PathEscapeError);
      });
    }
    // a chain: inside link -> inside link -> outside
    symlinkSync(join(outside, 'secret.png'), join(root, 'hop2.png'));
    try {
      await withLink(join(root, 'hop2.png'), join(root, 'a', 'hop1.png'), async () => {
        await expect(listImageFolder(root)).rejects.toBeInstanceOf(PathEscapeError);
      });
    } finally {
      unlinkSync(join(root, 'hop2.png'));
    }
    // links inside the root, and a root that is itself a link, are fine
    await withLink(join(root, 'a', '1.png'), join(root, 'inside-link.png'), async () => {
      const l = await listImageFolder(root);
      expect(l.files.every((f) => f.startsWith(root))).toBe(true);
      expect(l.files.length).toBe(3);
    });
    await withLink(root, join(base, 'root-link'), async () => {
      const l = await listImageFolder(join(base, 'root-link'));
      expect(l.root).toBe(root);
      expect(l.files.length).toBe(2);
    });
  });

  it('a file swapped for an escaping link after the listing is refused when read (worker and decode: true)', async () => {
    const victim = join(root, 'a', '2.png');
    const saved = await encode(smoothImage(2, 8, 8, 3), 8, 8, 3, 'png');
    // list first (cold source: the listing happens at subscription), then swap before the read
    const skips: SampleError[] = [];
    const src = fromImageFolder(root);
    const items = (await lastValueFrom(src.pipe(toArray()))) as ImageFile[];
    unlinkSync(victim);
    symlinkSync(join(outside, 'secret.png'), victim);
    try {
      const out = await lastValueFrom(from(items).pipe(augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: null }), toArray()));
      console.log(`[item 9b] swapped link: ${out.length} sample(s) out, refused: ${skips.map((s) => s.message.slice(0, 140)).join(' | ')}`);
      expect(out.map((s) => s.index)).toEqual([0]);
      expect(skips.length).toBe(1);
      expect(skips[0].path).toBe(victim);
      expect(skips[0].message).toMatch(/outside the dataset root/);
    } finally {
      unlinkSync(victim);
      writeFileSync(victim, saved);
    }
    // decode: true re-checks at read time: list (first pull), then swap, then read the next file
    const it = fromImageFolder(root, { decode: true }).pull();
    expect((await it.next()).value).toMatchObject({ index: 0 });
    unlinkSync(victim);
    symlinkSync(join(outside, 'secret.png'), victim);
    try {
      const err = await it.next().catch((e) => e);
      expect(err).toBeInstanceOf(PathEscapeError);
      expect(err.path).toBe(victim);
    } finally {
      unlinkSync(victim);
      writeFileSync(victim, saved);
    }
  });

  it('crafted ImageFile items (.. segments, absolute paths outside) are refused against their root', async () => {
    const items: ImageFile[] = [
      { index: 0, path: join(root, 'a', '1.png'), root },
      { index: 1, path: join(root, 'a', '..', '..', 'secret', 'secret.png'), root },
      { index: 2, path: join(outside, 'secret.png'), root },
    ];
    const skips: SampleError[] = [];
    const out = await lastValueFrom(from(items).pipe(augmentInPool({ augment: spec, pool, onSkip: (e) => skips.push(e), log: null }), toArray()));
    expect(out.map((s) => s.index)).toEqual([0]);
    expect(skips.map((s) => [s.index, s.reason])).toEqual([[1, 'read'], [2, 'read']]);
    expect(skips.every((s) => /outside the dataset root/.test(s.message))).toBe(true);
  });
});
