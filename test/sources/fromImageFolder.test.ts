import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { fromImageFolder } from '../../src/sources/fromImageFolder.ts';
import { listImageFolder } from '../../src/sources/listImageFolder.ts';
import { PathEscapeError, SampleError, type Sample } from '../../src/data.ts';
import { encode, smoothImage } from '../augment/fixtures.ts';

let root: string;
let outside: string;
const W = 20;
const H = 12;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'contrastream-folder-'));
  outside = mkdtempSync(join(tmpdir(), 'contrastream-outside-'));
  mkdirSync(join(root, 'cat', 'nested'), { recursive: true });
  mkdirSync(join(root, 'dog'));
  mkdirSync(join(root, 'emu'));
  const px = (s: number) => smoothImage(s, W, H, 3);
  writeFileSync(join(root, 'cat', 'b.jpg'), await encode(px(1), W, H, 3, 'jpeg'));
  writeFileSync(join(root, 'cat', 'a.PNG'), await encode(px(2), W, H, 3, 'png'));
  writeFileSync(join(root, 'cat', 'nested', 'c.webp'), await encode(px(3), W, H, 3, 'webp'));
  writeFileSync(join(root, 'cat', 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'dog', 'd.jpeg'), await encode(px(4), W, H, 3, 'jpeg', { progressive: true }));
  writeFileSync(join(root, 'dog', 'grey.png'), await encode(smoothImage(5, W, H, 1), W, H, 1, 'png'));
  writeFileSync(join(root, 'dog', 'alpha.png'), await encode(new Uint8Array(W * H * 4).fill(200), W, H, 4, 'png'));
  writeFileSync(join(root, 'top.jpg'), await encode(px(6), W, H, 3, 'jpeg'));
  // a link inside the root is followed; one that escapes is an error
  symlinkSync(join(root, 'dog', 'd.jpeg'), join(root, 'emu', 'link.jpeg'));
  writeFileSync(join(outside, 'secret.jpg'), await encode(px(7), W, H, 3, 'jpeg'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('fromImageFolder', () => {
  it('lists jpg/png/webp recursively in sorted order, with class labels from subfolders', async () => {
    const l = await listImageFolder(root, { labels: true });
    expect(l.classes).toEqual(['cat', 'dog', 'emu']);
    const rel = l.files.map((f) => f.slice(l.root.length + 1));
    // PNG sorts before b.jpg ('a' < 'b'); the link resolves to its real target
    expect(rel).toEqual(['cat/a.PNG', 'cat/b.jpg', 'cat/nested/c.webp', 'dog/alpha.png', 'dog/d.jpeg', 'dog/grey.png', 'dog/d.jpeg']);
    expect(Array.from(l.labels)).toEqual([0, 0, 0, 1, 1, 1, 2]);
    const flat = await listImageFolder(root);
    expect(flat.files.length).toBe(8); // top.jpg counts without labels
  });

  it('emits ImageFiles by default (decoded later, in the pool)', async () => {
    const out = await lastValueFrom(fromImageFolder(root, { labels: true }).pipe(toArray()));
    expect(out.length).toBe(7);
    expect(out[0]).toMatchObject({ index: 0, label: 0, channels: 3 });
    expect('pixels' in out[0]).toBe(false);
  });

  it('decodes here with decode: true (RGB, grey replicated, alpha dropped)', async () => {
    const out = (await lastValueFrom(fromImageFolder(root, { labels: true, decode: true }).pipe(toArray()))) as Sample[];
    for (const s of out) expect([s.width, s.height, s.channels, s.pixels.length]).toEqual([W, H, 3, W * H * 3]);
    const ref = await sharp(join(root, 'cat', 'b.jpg')).raw().toBuffer();
    expect(Buffer.from(out[1].pixels).equals(ref)).toBe(true); // the JPEG decoder is exact
    const webp = await sharp(join(root, 'cat', 'nested', 'c.webp')).raw().toBuffer();
    expect(Buffer.from(out[2].pixels).equals(webp)).toBe(true);
    const alpha = out[3];
    expect(Array.from(alpha.pixels.subarray(0, 3))).toEqual([200, 200, 200]);
    const grey = out[5];
    expect(grey.pixels[0]).toBe(grey.pixels[1]);
    const one = (await lastValueFrom(fromImageFolder(root, { decode: true, channels: 1, subset: 1 }).pipe(toArray()))) as Sample[];
    expect(one[0].channels).toBe(1);
  });

  it('rejects links that resolve outside the root with PathEscapeError', async () => {
    symlinkSync(join(outside, 'secret.jpg'), join(root, 'dog', 'zz-escape.jpg'));
    try {
      await expect(listImageFolder(root)).rejects.toThrow(PathEscapeError);
      await expect(lastValueFrom(fromImageFolder(root))).rejects.toThrow(/outside the dataset root/);
    } finally {
      rmSync(join(root, 'dog', 'zz-escape.jpg'));
    }
  });

  it('names the sample when decoding fails (decode: true)', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'contrastream-bad-'));
    try {
      writeFileSync(join(bad, 'a.jpg'), await encode(smoothImage(1, W, H, 3), W, H, 3, 'jpeg'));
      writeFileSync(join(bad, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
      const err = await lastValueFrom(fromImageFolder(bad, { decode: true, onError: 'error' }).pipe(toArray())).catch((e) => e);
      expect(err).toBeInstanceOf(SampleError);
      expect(err).toMatchObject({ index: 1, reason: 'decode' });
      expect(err.message).toContain('b.jpg');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
