import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { fromVideoFile, buildFfmpegArgs, createVideoSourceStats } from '../../src/sources/fromVideoFile.ts';
import { findFfmpeg, FFMPEG_ENV } from '../../src/sources/findFfmpeg.ts';
import { FfmpegNotFoundError } from '../../src/sources/FrameSource.ts';
import { ArgumentError } from '../../src/errors.ts';
import { ffmpegAvailable, makeVideo, processExists, tempDir, waitFor } from './videoFixtures.ts';

const hasFfmpeg = ffmpegAvailable();
let dir: string;
let test2s: string; // testsrc2, 64x48, 25 fps, 2 s
let shapes: string; // moving shapes, 64x48, 25 fps, 2 s

beforeAll(() => {
  if (!hasFfmpeg) return;
  dir = tempDir();
  test2s = makeVideo(dir, 'testsrc.mp4', { seconds: 2, fps: 25 });
  shapes = makeVideo(dir, 'shapes.mp4', { seconds: 2, fps: 25, kind: 'shapes', variant: 1 });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const all = (src: ReturnType<typeof fromVideoFile>) => lastValueFrom(src.pipe(toArray()));

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe.skipIf(!hasFfmpeg)('fromVideoFile', () => {
  it('resamples to the requested fps: frame count and timestamps', async () => {
    for (const [fps, expected] of [
      [10, 20],
      [25, 50],
      [7.5, 15],
    ] as const) {
      const frames = await all(fromVideoFile(test2s, { fps, size: { width: 64, height: 48 } }));
      expect(frames.length, `fps ${fps}`).toBe(expected);
      frames.forEach((f, n) => {
        expect(f.frameIndex).toBe(n);
        expect(f.timestampMs).toBeCloseTo((1000 * n) / fps, 6);
        expect(f.videoId).toBe(test2s);
        expect(f.width).toBe(64);
        expect(f.height).toBe(48);
        expect(f.channels).toBe(3);
        expect(f.pixels.length).toBe(64 * 48 * 3);
        expect(f.last === true).toBe(n === expected - 1);
      });
      // frames are not all the same (the pattern moves) and each owns its pixels
      expect(sameBytes(frames[0].pixels, frames[frames.length - 1].pixels)).toBe(false);
      expect(new Set(frames.map((f) => f.pixels.buffer)).size).toBe(frames.length);
    }
  });

  it('probes the native rate and size when fps and size are not given', async () => {
    const frames = await all(fromVideoFile(test2s));
    expect(frames.length).toBe(50);
    expect(frames[1].timestampMs).toBeCloseTo(40, 6);
    expect([frames[0].width, frames[0].height]).toEqual([64, 48]);
  });

  it('honours startTime, duration, size and channels', async () => {
    const frames = await all(fromVideoFile(test2s, { fps: 10, startTime: 0.5, duration: 1, size: { width: 32, height: 24 }, channels: 1 }));
    expect(frames.length).toBe(10);
    frames.forEach((f, n) => {
      expect(f.frameIndex).toBe(n);
      expect(f.timestampMs).toBeCloseTo(500 + 100 * n, 6);
      expect(f.pixels.length).toBe(32 * 24);
      expect(f.channels).toBe(1);
    });
    // the frame at 0.5 s equals frame 5 of a decode from 0 (same content, same time)
    const fromZero = await all(fromVideoFile(test2s, { fps: 10, size: { width: 32, height: 24 }, channels: 1 }));
    let diff = 0;
    for (let i = 0; i < frames[0].pixels.length; i++) diff += Math.abs(frames[0].pixels[i] - fromZero[5].pixels[i]);
    expect(diff / frames[0].pixels.length).toBeLessThan(2);
    let diffOther = 0;
    for (let i = 0; i < frames[0].pixels.length; i++) diffOther += Math.abs(frames[0].pixels[i] - fromZero[0].pixels[i]);
    expect(diffOther / frames[0].pixels.length).toBeGreaterThan(diff / frames[0].pixels.length);
  });

  it('interleaves several videos round-robin, each in order; epochs repeat the list', async () => {
    const frames = await all(fromVideoFile([test2s, shapes], { fps: 5, size: { width: 64, height: 48 }, concurrency: 2, epochs: 2 }));
    expect(frames.length).toBe(40);
    expect(frames.slice(0, 6).map((f) => f.videoId)).toEqual([test2s, shapes, test2s, shapes, test2s, shapes]);
    for (const id of [test2s, shapes]) {
      for (const epoch of [0, 1]) {
        const own = frames.filter((f) => f.videoId === id && f.epoch === epoch);
        expect(own.map((f) => f.frameIndex)).toEqual([...Array(10).keys()]);
      }
    }
  });

  it('start skips that many frames of the merged plan (resume): frame k is the same with or without it', async () => {
    const config = { fps: 5, size: { width: 64, height: 48 }, concurrency: 2, epochs: 2, shuffle: true, seed: 3 };
    const key = (f: { videoId: string; epoch?: number; frameIndex: number }) => `${f.epoch}:${f.videoId}:${f.frameIndex}`;
    const full = (await all(fromVideoFile([test2s, shapes], config))).map(key);
    expect(full.length).toBe(40);
    for (const start of [13, 27]) {
      // 13: inside epoch 0, mid-video; 27: inside epoch 1 (not a multiple of the videos per epoch)
      expect((await all(fromVideoFile([test2s, shapes], { ...config, start }))).map(key)).toEqual(full.slice(start));
    }
    expect(await all(fromVideoFile([test2s, shapes], { ...config, start: 40 }))).toEqual([]);
  });

  it('unsubscribing kills ffmpeg and reaps it (no zombie)', async () => {
    const pids: number[] = [];
    const first = await firstValueFrom(fromVideoFile(test2s, { fps: 25, bufferFrames: 2, onSpawn: (pid) => pids.push(pid) }).pipe(take(3), toArray()));
    expect(first.length).toBe(3);
    expect(pids.length).toBe(1);
    // 50 frames x 9 kB do not fit the pipe: ffmpeg was blocked writing when we left
    expect(await waitFor(() => !processExists(pids[0]), 5000)).toBe(true);
  });

  it('breaking a for-await loop kills ffmpeg too', async () => {
    const pids: number[] = [];
    let n = 0;
    for await (const _ of fromVideoFile([test2s, shapes], { fps: 25, concurrency: 2, onSpawn: (pid) => pids.push(pid) })) {
      if (++n === 4) break;
    }
    expect(pids.length).toBe(2);
    // return() awaits the exit: gone at once
    for (const pid of pids) expect(processExists(pid)).toBe(false);
  });

  it('SIGKILLs a decoder that ignores SIGTERM after the grace period', async () => {
    const fake = join(dir, 'stubborn-ffmpeg.sh');
    writeFileSync(fake, "#!/bin/sh\ntrap '' TERM PIPE\nwhile :; do sleep 0.05; done\n");
    chmodSync(fake, 0o755);
    const pids: number[] = [];
    const src = fromVideoFile(test2s, { ffmpegPath: fake, fps: 10, size: { width: 8, height: 8 }, killGraceMs: 200, onSpawn: (pid) => pids.push(pid) });
    const it = src.pull();
    const pending = it.next(); // starts the process; it never writes a frame
    expect(await waitFor(() => pids.length === 1, 3000)).toBe(true);
    const t0 = Date.now();
    await it.return!(undefined);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(processExists(pids[0])).toBe(false);
    await expect(pending).resolves.toMatchObject({ done: true });
  });

  it('finds ffmpeg by option, environment variable and PATH, and says how to install it when missing', () => {
    const found = findFfmpeg();
    expect(found.ffmpeg).toMatch(/ffmpeg/);
    expect(findFfmpeg({ ffmpegPath: found.ffmpeg }).from).toBe('option');
    expect(findFfmpeg({ env: { [FFMPEG_ENV]: found.ffmpeg, PATH: '' } }).from).toBe('env');
    expect(() => findFfmpeg({ env: { PATH: '' } })).toThrow(FfmpegNotFoundError);
    expect(() => findFfmpeg({ env: { PATH: '' } })).toThrow(/apt install ffmpeg/);
    expect(() => findFfmpeg({ ffmpegPath: join(dir, 'no-such-ffmpeg') })).toThrow(FfmpegNotFoundError);
    expect(() => findFfmpeg({ env: { [FFMPEG_ENV]: join(dir, 'nope'), PATH: '' } })).toThrow(new RegExp(FFMPEG_ENV));
  });

  it('ends the stream with FfmpegNotFoundError when the named ffmpeg does not exist', async () => {
    await expect(all(fromVideoFile(test2s, { ffmpegPath: join(dir, 'missing'), fps: 10 }))).rejects.toThrow(FfmpegNotFoundError);
  });

  it('builds an argv with the protocol whitelist and an absolute file: input', () => {
    const args = buildFfmpegArgs({ file: 'clips/a.mp4', fps: '10/1', width: 8, height: 6, channels: 3, start: 1.5, duration: 2, strict: true });
    const wl = args.indexOf('-protocol_whitelist');
    expect(args[wl + 1]).toBe('file,pipe');
    const input = args[args.indexOf('-i') + 1];
    expect(input).toBe(`file:${join(process.cwd(), 'clips/a.mp4')}`);
    expect(args.slice(args.indexOf('-ss'), args.indexOf('-ss') + 2)).toEqual(['-ss', '1.5']);
    expect(args.slice(args.indexOf('-t'), args.indexOf('-t') + 2)).toEqual(['-t', '2']);
    expect(args.indexOf('-ss')).toBeLessThan(args.indexOf('-i'));
    expect(args.slice(-1)).toEqual(['pipe:1']);
  });

  it('checks its arguments up front', () => {
    expect(() => fromVideoFile([])).toThrow(ArgumentError);
    expect(() => fromVideoFile(test2s, { fps: 0 })).toThrow(/config\.fps/);
    expect(() => fromVideoFile(test2s, { size: { width: 0, height: 4 } })).toThrow(/config\.size/);
    expect(() => fromVideoFile(test2s, { startTime: -1 })).toThrow(/config\.startTime/);
    expect(() => fromVideoFile(test2s, { channels: 2 as 3 })).toThrow(/config\.channels/);
    expect(() => fromVideoFile(test2s, { bufferFrames: 1 })).toThrow(/config\.bufferFrames/);
  });

  it('pauses ffmpeg when the consumer is slow: frames read stay bounded', async () => {
    const stats = createVideoSourceStats();
    const it = fromVideoFile(test2s, { fps: 25, size: { width: 64, height: 48 }, bufferFrames: 3, stats }).pull();
    for (let i = 0; i < 3; i++) {
      const r = await it.next();
      expect(r.done).toBe(false);
      await new Promise((r) => setTimeout(r, 150)); // ffmpeg decodes 50 frames in far less
    }
    // 3 pulled + 3 buffered + what one 64 kB pipe read can hold (7 frames of 9 kB) + 1 held back
    expect(stats.framesRead).toBeLessThanOrEqual(3 + 3 + 8 + 1);
    expect(stats.peakBufferedFrames).toBeLessThanOrEqual(3 + 8);
    let rest = 0;
    for (let r = await it.next(); !r.done; r = await it.next()) rest++;
    expect(3 + rest).toBe(50);
    expect(stats.framesRead).toBe(50);
  });
});
