/**
 * Issue 7, item 3: a video whose file name starts with '-' (or looks like a protocol) never
 * reaches ffmpeg as an option or another protocol: the input is an absolute file: URL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { fromVideoFile, buildFfmpegArgs } from '../../src/sources/fromVideoFile.ts';
import { ffmpegAvailable, makeVideo, tempDir } from '../sources/videoFixtures.ts';

const hasFfmpeg = ffmpegAvailable();
let dir: string;
let video: string;
const NAMES = ['-y.mp4', '-i', '--help', '-f lavfi -i testsrc', 'concat:a.mp4|b.mp4', '-'];

beforeAll(() => {
  if (!hasFfmpeg) return;
  dir = tempDir();
  video = makeVideo(dir, 'plain.mp4', { seconds: 1, fps: 25, kind: 'shapes' });
  for (const n of NAMES) copyFileSync(video, join(dir, n));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasFfmpeg)('dash-prefixed video file names', () => {
  it('builds argv where the name is only ever part of an absolute file: URL', () => {
    const plan = { fps: '10/1', width: 8, height: 8, channels: 3 as const, start: 0, duration: null, strict: true };
    const reference = buildFfmpegArgs({ ...plan, file: 'plain.mp4' });
    const at = reference.indexOf(`file:${join(process.cwd(), 'plain.mp4')}`);
    expect(at).toBeGreaterThan(0);
    for (const name of NAMES) {
      const args = buildFfmpegArgs({ ...plan, file: name });
      // the same argv as for a plain name, except the input URL
      expect(args.length).toBe(reference.length);
      args.forEach((a, i) => {
        if (i !== at) expect(a).toBe(reference[i]);
      });
      expect(args[at]).toBe(`file:${join(process.cwd(), name)}`);
      expect(args[at - 1]).toBe('-i');
    }
  });

  it('decodes files named like options, by absolute and by relative path, without creating anything', async () => {
    const cwd = process.cwd();
    const before = readdirSync(dir).sort();
    try {
      process.chdir(dir);
      for (const name of NAMES) {
        for (const path of name === '-y.mp4' ? [name, join(dir, name)] : [name]) {
          const frames = await lastValueFrom(fromVideoFile(path, { fps: 10, size: { width: 64, height: 48 } }).pipe(toArray()));
          expect(frames.length, `${path}`).toBe(10);
          expect(frames[0].videoId).toBe(join(dir, name));
          expect(frames[0].width).toBe(64);
        }
      }
    } finally {
      process.chdir(cwd);
    }
    // '-y' did not overwrite anything, nothing was written next to the files
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(dir, 'testsrc'))).toBe(false);
  });
});
