/**
 * Small test videos generated with ffmpeg's lavfi sources at test time (no binary fixtures):
 * `testsrc2`, or moving shapes (a square sliding and bobbing over a background whose hue
 * drifts with time, so frames far apart in time look different).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFfmpeg } from '../../src/sources/findFfmpeg.ts';

export interface VideoSpec {
  seconds: number;
  fps: number;
  width?: number;
  height?: number;
  kind?: 'testsrc2' | 'shapes';
  /** For 'shapes': variant (changes colours, speed and phase). */
  variant?: number;
  /** Put the index (moov) first, so a truncated file still starts decoding. */
  faststart?: boolean;
}

export function ffmpegAvailable(): boolean {
  try {
    findFfmpeg();
    return true;
  } catch {
    return false;
  }
}

export function tempDir(prefix = 'contrastream-video-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function lavfiGraph(spec: VideoSpec): string {
  const w = spec.width ?? 64;
  const h = spec.height ?? 48;
  const r = spec.fps;
  const d = spec.seconds;
  if ((spec.kind ?? 'testsrc2') === 'testsrc2') return `testsrc2=size=${w}x${h}:rate=${r}:duration=${d}`;
  const v = spec.variant ?? 0;
  const bg = ['0x204080', '0x408020', '0x802040', '0x606060', '0x206060', '0x604020'][v % 6];
  const fg = ['red', 'yellow', 'white', 'cyan', 'magenta', 'orange'][v % 6];
  const speed = 12 + 5 * (v % 4);
  const box = Math.max(4, Math.round(w / 5));
  return (
    `color=c=${bg}:s=${w}x${h}:r=${r}:d=${d},` +
    `drawbox=x='mod(t*${speed}+${7 * v}\\,${w - box})':y='${h / 2 - box / 2}+${h / 4}*sin(t+${v})':w=${box}:h=${box}:color=${fg}:t=fill,` +
    `hue=h='t*${50 + 10 * v}'`
  );
}

/** Writes an H.264 mp4 made by lavfi; returns its path. */
export function makeVideo(dir: string, name: string, spec: VideoSpec): string {
  const { ffmpeg } = findFfmpeg();
  const out = join(dir, name);
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', lavfiGraph(spec), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10'];
  if (spec.faststart) args.push('-movflags', '+faststart');
  args.push(`file:${out}`);
  execFileSync(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** Copies the first `fraction` of `src` to `dst` (a truncated download). */
export function truncateCopy(src: string, dst: string, fraction: number): string {
  const bytes = readFileSync(src);
  writeFileSync(dst, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return dst;
}

/** True while a process with this pid exists (a zombie counts as existing). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until `cond` holds or `ms` pass; returns whether it held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}
