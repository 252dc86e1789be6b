/**
 * Issue 7, item 3: a truncated or corrupt video ends that video's stream with a typed error
 * (VideoDecodeError naming the file), the run goes on with the other videos, and no ffmpeg
 * process is left behind.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { fromVideoFile } from '../../src/sources/fromVideoFile.ts';
import { VideoDecodeError, type Frame } from '../../src/sources/FrameSource.ts';
import { ffmpegAvailable, makeVideo, processExists, tempDir, truncateCopy, waitFor } from '../sources/videoFixtures.ts';

const hasFfmpeg = ffmpegAvailable();
let dir: string;
let good1: string;
let good2: string;
let noIndex: string; // truncated, index (moov) at the end: ffmpeg cannot even open it
let cutMidway: string; // truncated, index first: decodes some frames, then fails
let garbage: string;

beforeAll(() => {
  if (!hasFfmpeg) return;
  dir = tempDir();
  good1 = makeVideo(dir, 'good1.mp4', { seconds: 2, fps: 25, kind: 'shapes', variant: 0 });
  good2 = makeVideo(dir, 'good2.mp4', { seconds: 2, fps: 25, kind: 'shapes', variant: 2 });
  const full = makeVideo(dir, 'full.mp4', { seconds: 2, fps: 25, kind: 'shapes', variant: 3 });
  const fast = makeVideo(dir, 'fast.mp4', { seconds: 2, fps: 25, kind: 'shapes', variant: 3, faststart: true });
  noIndex = truncateCopy(full, join(dir, 'no-index.mp4'), 0.5);
  cutMidway = truncateCopy(fast, join(dir, 'cut-midway.mp4'), 0.5);
  garbage = join(dir, 'garbage.mp4');
  writeFileSync(garbage, Buffer.from('this is not a video at all'.repeat(100)));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasFfmpeg)('corrupt video', () => {
  for (const which of ['noIndex', 'cutMidway', 'garbage'] as const) {
    it(`${which}: a single-video source ends with a VideoDecodeError naming the file, no ffmpeg left`, async () => {
      const file = { noIndex, cutMidway, garbage }[which];
      const pids: number[] = [];
      const frames: Frame[] = [];
      let error: unknown;
      try {
        for await (const f of fromVideoFile(file, { fps: 25, size: { width: 64, height: 48 }, onSpawn: (p) => pids.push(p) })) frames.push(f);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(VideoDecodeError);
      const e = error as VideoDecodeError;
      expect(e.file).toBe(file);
      expect(e.message).toContain(file);
      expect(e.framesDecoded).toBe(frames.length);
      expect(frames.length).toBeLessThan(50);
      expect(frames.some((f) => f.last)).toBe(false); // a failed video has no 'last' frame
      expect(pids.length).toBe(1);
      expect(await waitFor(() => !processExists(pids[0]), 3000)).toBe(true);
    });
  }

  it('with several videos, the corrupt ones are reported and the others deliver every frame', async () => {
    const pids: number[] = [];
    const skipped: VideoDecodeError[] = [];
    const frames = await lastValueFrom(
      fromVideoFile([noIndex, good1, cutMidway, garbage, good2], {
        fps: 10,
        concurrency: 2,
        onSpawn: (p) => pids.push(p),
        onSkip: (e) => skipped.push(e),
      }).pipe(toArray()),
    );
    expect(skipped.map((e) => e.file).sort()).toEqual([noIndex, cutMidway, garbage].sort());
    for (const e of skipped) expect(e).toBeInstanceOf(VideoDecodeError);
    for (const good of [good1, good2]) {
      const own = frames.filter((f) => f.videoId === good);
      expect(own.map((f) => f.frameIndex)).toEqual([...Array(20).keys()]);
      expect(own[19].last).toBe(true);
    }
    expect(await waitFor(() => pids.every((p) => !processExists(p)), 3000)).toBe(true);
  });

  it("with onError: 'error' the first corrupt video ends the whole stream and every ffmpeg is stopped", async () => {
    const pids: number[] = [];
    const run = lastValueFrom(fromVideoFile([good1, noIndex, good2], { fps: 10, concurrency: 3, onError: 'error', onSpawn: (p) => pids.push(p) }).pipe(toArray()));
    await expect(run).rejects.toBeInstanceOf(VideoDecodeError);
    await expect(run).rejects.toMatchObject({ file: noIndex });
    expect(pids.length).toBeGreaterThanOrEqual(1);
    expect(await waitFor(() => pids.every((p) => !processExists(p)), 3000)).toBe(true);
  });

  it('a missing file is a VideoDecodeError too, and does not stop the others', async () => {
    const skipped: VideoDecodeError[] = [];
    const missing = join(dir, 'does-not-exist.mp4');
    const frames = await lastValueFrom(fromVideoFile([missing, good1], { fps: 5, onSkip: (e) => skipped.push(e) }).pipe(toArray()));
    expect(skipped.length).toBe(1);
    expect(skipped[0].file).toBe(missing);
    expect(skipped[0].message).toMatch(/ENOENT/);
    expect(frames.length).toBe(10);
  });
});
