import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { fromFrameFolder } from '../../src/sources/fromFrameFolder.ts';
import { SampleError } from '../../src/data.ts';
import { ArgumentError } from '../../src/errors.ts';
import { tempDir } from './videoFixtures.ts';

let root: string;
let flat: string;
const W = 6;
const H = 4;

/** A PNG whose every pixel is (value, 255 - value, 7). */
const png = (value: number) =>
  sharp(Buffer.from(new Uint8Array(W * H * 3).map((_, i) => [value, 255 - value, 7][i % 3])), { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toBuffer();

beforeAll(async () => {
  root = tempDir('contrastream-frames-');
  for (const [video, count] of [
    ['clipA', 12],
    ['clipB', 5],
  ] as const) {
    mkdirSync(join(root, video));
    // unpadded names: natural order must put f2 before f10
    for (let n = 0; n < count; n++) writeFileSync(join(root, video, `f${n + 1}.png`), await png(10 * n + (video === 'clipA' ? 0 : 1)));
  }
  mkdirSync(join(root, 'broken'));
  writeFileSync(join(root, 'broken', 'f1.png'), await png(100));
  writeFileSync(join(root, 'broken', 'f2.png'), Buffer.from('not a png'));
  flat = tempDir('contrastream-frames-flat-');
  for (let n = 0; n < 3; n++) writeFileSync(join(flat, `${n}.png`), await png(n));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(flat, { recursive: true, force: true });
});

describe('fromFrameFolder', () => {
  it('emits each subfolder as a video, frames in natural order with timestamps from fps', async () => {
    const skipped: SampleError[] = [];
    const frames = await lastValueFrom(fromFrameFolder(root, { fps: 20, onSkip: (e) => skipped.push(e) }).pipe(toArray()));
    const a = frames.filter((f) => f.videoId.endsWith('/clipA'));
    const b = frames.filter((f) => f.videoId.endsWith('/clipB'));
    expect(a.length).toBe(12);
    expect(b.length).toBe(5);
    a.forEach((f, n) => {
      expect(f.frameIndex).toBe(n);
      expect(f.timestampMs).toBeCloseTo(50 * n, 9);
      expect(f.pixels[0]).toBe(10 * n); // content proves the order
      expect([f.width, f.height, f.channels]).toEqual([W, H, 3]);
      expect(f.last === true).toBe(n === 11);
    });
    // the broken video: its first frame, then a SampleError naming the bad file; others go on
    expect(frames.filter((f) => f.videoId.endsWith('/broken')).length).toBe(1);
    expect(skipped.length).toBe(1);
    expect(skipped[0].path).toMatch(/broken\/f2\.png$/);
  });

  it("with onError: 'error' the bad frame ends the stream", async () => {
    await expect(lastValueFrom(fromFrameFolder(root, { onError: 'error' }).pipe(toArray()))).rejects.toBeInstanceOf(SampleError);
  });

  it('interleaves videos with concurrency, and a folder of images is one video', async () => {
    const frames = await lastValueFrom(fromFrameFolder(root, { concurrency: 2, channels: 1 }).pipe(toArray()));
    expect(frames[0].videoId).not.toBe(frames[1].videoId);
    expect(frames[0].channels).toBe(1);
    const one = await lastValueFrom(fromFrameFolder(flat).pipe(toArray()));
    expect(one.map((f) => f.frameIndex)).toEqual([0, 1, 2]);
    expect(new Set(one.map((f) => f.videoId)).size).toBe(1);
    expect(one[2].last).toBe(true);
  });

  it('checks its arguments', () => {
    expect(() => fromFrameFolder('')).toThrow(ArgumentError);
    expect(() => fromFrameFolder(root, { fps: 0 })).toThrow(/config\.fps/);
    expect(() => fromFrameFolder(root, { concurrency: 0 })).toThrow(/config\.concurrency/);
  });
});
