/**
 * Frames of one or more video files, decoded by ffmpeg and streamed as raw RGB (or grey) over a
 * pipe: no temporary files.
 *
 *   fromVideoFile(['a.mp4', 'b.mkv'], { fps: 10, size: { width: 64, height: 48 }, concurrency: 2 })
 *     .pipe(temporalPositives({ window: { frames: 5 } }), ...)
 *
 * Decoding: `ffmpeg -protocol_whitelist file,pipe [-ss startTime] [-t duration] -i file:/abs/path
 * -map 0:v:0 -vf fps=F[,scale=W:H] -f rawvideo -pix_fmt rgb24 pipe:1`, spawned with an argv array
 * (never a shell). The input is always an absolute `file:` URL, so a name such as `-y.mp4` or
 * `concat:x|y` is only ever read as a local file, never parsed as an option or another protocol.
 * Without `fps` or `size` the video's own rate and size are read with ffprobe first.
 *
 * Frames and time: the output is resampled to a constant `fps` (ffmpeg's fps filter), so frame n
 * of a video has `timestampMs = 1000 * startTime + 1000 n / fps` and a clip of D seconds gives
 * round(D * fps) frames. `frameIndex` counts from 0 at `startTime`. (SourceConfig's `start`, as
 * for every source, skips that many items of the plan: here, frames of the merged stream, which
 * are decoded and dropped; runPipeline's resume passes the images already trained.)
 *
 * Flow control: the source is pulled (see DataSource). Each open video holds at most
 * `bufferFrames` decoded frames; beyond that its stdout is paused, so ffmpeg blocks on the pipe
 * and memory stays flat however long the video is.
 *
 * Ending: unsubscribing (or breaking a `for await`) destroys the pipe, sends SIGTERM and, if
 * ffmpeg is still alive after `killGraceMs`, SIGKILL; the process is reaped (no zombie).
 *
 * Errors: a video ffmpeg cannot open, or that stops with a decoding error (a truncated or corrupt
 * file; ffmpeg runs with `-xerror` unless `strict: false`), or that ends mid-frame, ends that
 * video's frames with a VideoDecodeError naming the file, after the frames decoded before the
 * error. With a list of files the others go on (`onError: 'skip'`, the default for a list,
 * reports it to `onSkip`); `onError: 'error'` (the default for a single path) ends the stream. No ffmpeg (FfmpegNotFoundError) always
 * ends the stream.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { ArgumentError } from '../errors.ts';
import { DataSource, type PullIterator } from './DataSource.ts';
import { checkSourceConfig, EpochCursor, resolveSubset, type SourceConfig } from '../internal/sourcePlan.ts';
import { findFfmpeg, type FfmpegLocation } from './findFfmpeg.ts';
import { FfmpegNotFoundError, videoInterleaver, VideoDecodeError, type Frame, type VideoErrorPolicy } from './FrameSource.ts';

export interface FromVideoFileConfig extends SourceConfig, VideoErrorPolicy<VideoDecodeError> {
  /** Output frame rate (frames per second). Default null: the video's own average rate (ffprobe). */
  fps?: number | null;
  /** Output size in pixels (scaled with area averaging). Default null: the video's own size (ffprobe). */
  size?: { width: number; height: number } | null;
  /** Seek to this time (seconds) before decoding. Default 0. (`start` is SourceConfig's: frames of the plan to skip.) */
  startTime?: number;
  /** Decode at most this many seconds. Default null: to the end. */
  duration?: number | null;
  /** 3 (RGB) or 1 (grey). Default 3. */
  channels?: 1 | 3;
  /** ffmpeg executable. Default: CONTRASTREAM_FFMPEG, a registry binary, then PATH (see findFfmpeg). */
  ffmpegPath?: string;
  /** ffprobe executable. Default: next to ffmpeg, then PATH. */
  ffprobePath?: string;
  /** Videos decoded at once; their frames are interleaved round-robin. Default 1. */
  concurrency?: number;
  /** Decoded frames held per open video before its pipe is paused. Default 4. */
  bufferFrames?: number;
  /** Stop at the first decoding error (`-xerror`). Default true. */
  strict?: boolean;
  /** After SIGTERM, wait this long before SIGKILL. Default 1000 ms. */
  killGraceMs?: number;
  /** videoId of a file. Default: its absolute path. */
  videoId?: (absolutePath: string) => string;
  /** Called with the pid of every ffmpeg started (tests, monitoring). */
  onSpawn?: (pid: number, file: string) => void;
  /** Counters (frames read from the pipes, most frames held at once by one video). */
  stats?: VideoSourceStats;
}

export interface VideoSourceStats {
  /** Complete frames read from ffmpeg's pipes, over all videos. */
  framesRead: number;
  /** Most decoded frames one video held, waiting to be pulled. */
  peakBufferedFrames: number;
}

export function createVideoSourceStats(): VideoSourceStats {
  return { framesRead: 0, peakBufferedFrames: 0 };
}

export const DEFAULT_FROM_VIDEO_FILE_CONFIG = {
  fps: null,
  size: null,
  startTime: 0,
  duration: null,
  channels: 3,
  concurrency: 1,
  bufferFrames: 4,
  strict: true,
  killGraceMs: 1000,
  /** onError for a list of videos; a single path (a string) defaults to 'error'. */
  onError: 'skip',
} as const;

const STDERR_TAIL = 2048;

/** Resolved decoding options of one video. */
interface DecodePlan {
  file: string;
  videoId: string;
  epoch: number;
  fps: string; // exact rational for the filter, e.g. "30000/1001"
  fpsValue: number;
  width: number;
  height: number;
  channels: 1 | 3;
  start: number;
  duration: number | null;
  strict: boolean;
}

/**
 * The ffmpeg argv for decoding `file` (exported for tests and for checking what is run). The
 * input is the absolute `file:` URL of the path, so no file name can become an option.
 */
export function buildFfmpegArgs(plan: Pick<DecodePlan, 'file' | 'fps' | 'width' | 'height' | 'channels' | 'start' | 'duration' | 'strict'>): string[] {
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-protocol_whitelist', 'file,pipe'];
  if (plan.strict) args.push('-xerror');
  if (plan.start > 0) args.push('-ss', String(plan.start));
  if (plan.duration !== null) args.push('-t', String(plan.duration));
  args.push('-i', fileUrl(plan.file));
  args.push('-map', '0:v:0', '-an', '-sn', '-dn');
  args.push('-vf', `fps=${plan.fps},scale=${plan.width}:${plan.height}:flags=area`);
  args.push('-vsync', 'passthrough', '-f', 'rawvideo', '-pix_fmt', plan.channels === 3 ? 'rgb24' : 'gray', 'pipe:1');
  return args;
}

/** `file:` + the absolute path (ffmpeg's file protocol takes the path as is, no percent-encoding). */
function fileUrl(path: string): string {
  return `file:${resolve(path)}`;
}

function parseRate(s: string | undefined): { text: string; value: number } | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\d+)(?:\/(\d+))?$/.exec(s.trim());
  if (!m) return undefined;
  const num = Number(m[1]);
  const den = m[2] === undefined ? 1 : Number(m[2]);
  if (!(num > 0 && den > 0)) return undefined;
  return { text: `${num}/${den}`, value: num / den };
}

/** What ffprobe says about a video's first video stream. */
export interface VideoProbe {
  width: number;
  height: number;
  /** Average frame rate, as an exact fraction and as a number. */
  rate: { text: string; value: number };
  /** Length in seconds (NaN when unknown). */
  durationSec: number;
}

/** Reads size, frame rate and duration with ffprobe (argv array, file: URL). Rejects with VideoDecodeError. */
export function probeVideo(file: string, config: { ffmpegPath?: string; ffprobePath?: string } = {}): Promise<VideoProbe> {
  const loc = findFfmpeg(config);
  if (loc.ffprobe === undefined) return Promise.reject(new FfmpegNotFoundError('probeVideo: no ffprobe found. Install it (it comes with Debian\'s ffmpeg package) or set ffprobePath'));
  return probe(loc.ffprobe, resolve(file));
}

function probe(ffprobe: string, file: string): Promise<VideoProbe> {
  const args = ['-v', 'error', '-protocol_whitelist', 'file,pipe', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate:format=duration', '-of', 'json', fileUrl(file)];
  return new Promise((done, fail) => {
    execFile(ffprobe, args, { shell: false, windowsHide: true, timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const problem = (p: string) => new VideoDecodeError({ file, framesDecoded: 0, exitCode: typeof (err as { code?: unknown })?.code === 'number' ? ((err as { code: number }).code) : null, stderr: String(stderr).slice(-STDERR_TAIL), problem: p }, { cause: err ?? undefined });
      if (err) return fail(problem('ffprobe could not read it'));
      try {
        const json = JSON.parse(String(stdout)) as { streams?: Array<{ width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string }>; format?: { duration?: string } };
        const s = json.streams?.[0];
        const rate = parseRate(s?.avg_frame_rate) ?? parseRate(s?.r_frame_rate);
        if (!s || !(Number(s.width) > 0 && Number(s.height) > 0) || !rate) return fail(problem('it has no video stream with a known size and frame rate'));
        done({ width: Number(s.width), height: Number(s.height), rate, durationSec: json.format?.duration !== undefined ? Number(json.format.duration) : NaN });
      } catch (e) {
        fail(problem(`ffprobe printed unreadable output (${(e as Error).message})`));
      }
    });
  });
}

/** Decodes one video: a pull iterator of its frames. */
function decodeVideo(plan: DecodePlan, ffmpeg: string, options: { bufferFrames: number; killGraceMs: number; onSpawn?: (pid: number, file: string) => void; stats?: VideoSourceStats }): PullIterator<Frame> {
  const frameBytes = plan.width * plan.height * plan.channels;
  let child: ChildProcess | undefined;
  const frames: Uint8Array[] = [];
  let cur = new Uint8Array(frameBytes);
  let fill = 0;
  let decoded = 0; // complete frames read from the pipe
  let emitted = 0;
  let stderr = '';
  let finished = false; // process closed
  let failure: Error | undefined;
  let closed = false; // unsubscribed
  let paused = false;
  let waiter: (() => void) | undefined;
  let exit: Promise<void> | undefined;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };

  const start = () => {
    let c: ChildProcess;
    try {
      c = spawn(ffmpeg, buildFfmpegArgs(plan), { stdio: ['ignore', 'pipe', 'pipe'], shell: false, windowsHide: true });
    } catch (err) {
      failure = new FfmpegNotFoundError(`could not start ffmpeg '${ffmpeg}': ${(err as Error).message}`, { cause: err });
      finished = true;
      return;
    }
    child = c;
    exit = new Promise<void>((done) => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        finished = true;
        wake();
        done();
      };
      c.once('error', (err) => {
        if (!closed) failure ??= new FfmpegNotFoundError(`could not start ffmpeg '${ffmpeg}': ${err.message}. Check the ffmpegPath option or CONTRASTREAM_FFMPEG`, { cause: err });
        // 'close' may not follow a spawn failure
        if (c.pid === undefined) settle();
      });
      c.once('close', (code, signal) => {
        if (!closed && !failure) {
          if (code !== 0) {
            failure = new VideoDecodeError({ file: plan.file, framesDecoded: decoded, exitCode: code, stderr, problem: signal ? `ffmpeg was killed by ${signal}` : `ffmpeg stopped with exit code ${code}` });
          } else if (fill > 0) {
            failure = new VideoDecodeError({ file: plan.file, framesDecoded: decoded, exitCode: code, stderr, problem: `the decoded stream ended inside a frame (${fill} of ${frameBytes} bytes)` });
          }
        }
        settle();
      });
    });
    if (c.pid !== undefined) options.onSpawn?.(c.pid, plan.file);
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL);
    });
    c.stdout!.on('data', (chunk: Buffer) => {
      if (closed) return;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - fill, chunk.length - off);
        cur.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === frameBytes) {
          frames.push(cur); // each frame owns its pixels (no view into the pipe's chunk)
          decoded++;
          if (options.stats) {
            options.stats.framesRead++;
            options.stats.peakBufferedFrames = Math.max(options.stats.peakBufferedFrames, frames.length);
          }
          cur = new Uint8Array(frameBytes);
          fill = 0;
        }
      }
      if (frames.length >= options.bufferFrames && !paused) {
        paused = true;
        c.stdout!.pause();
      }
      wake();
    });
  };

  const kill = async () => {
    const c = child;
    if (!c || !exit) return;
    if (!finished) {
      c.stdout?.destroy();
      c.stderr?.destroy();
      c.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!finished) c.kill('SIGKILL');
      }, options.killGraceMs);
      await exit;
      clearTimeout(timer);
    }
  };

  const makeFrame = (pixels: Uint8Array, last: boolean): Frame => {
    const n = emitted++;
    const f: Frame = {
      index: n,
      epoch: plan.epoch,
      path: plan.file,
      videoId: plan.videoId,
      frameIndex: n,
      timestampMs: 1000 * plan.start + (1000 * n) / plan.fpsValue,
      pixels,
      width: plan.width,
      height: plan.height,
      channels: plan.channels,
    };
    if (last) f.last = true;
    return f;
  };

  return {
    async next() {
      if (!child && !finished && !closed) start();
      for (;;) {
        if (closed) return { done: true, value: undefined };
        // hold one frame back until the next exists or the video ended, to mark the last one
        if (frames.length >= 2 || (frames.length === 1 && finished)) {
          const pixels = frames.shift()!;
          const last = finished && !failure && frames.length === 0;
          if (paused && frames.length < options.bufferFrames && !finished) {
            paused = false;
            child?.stdout?.resume();
          }
          return { done: false, value: makeFrame(pixels, last) };
        }
        if (finished) {
          closed = true;
          if (failure) throw failure;
          return { done: true, value: undefined };
        }
        if (paused) {
          paused = false;
          child?.stdout?.resume();
        }
        await new Promise<void>((r) => {
          waiter = r;
        });
      }
    },
    async return() {
      closed = true;
      frames.length = 0;
      wake();
      await kill();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Frames of the video file(s) at `paths` (see the file header). `epochs`, `shuffle`, `seed` and
 * `subset` apply to the list of videos; frames within a video are always in order.
 */
export function fromVideoFile(paths: string | readonly string[], config: FromVideoFileConfig = {}): DataSource<Frame> {
  const fn = 'fromVideoFile';
  const list = typeof paths === 'string' ? [paths] : paths;
  if (!Array.isArray(list) || list.length === 0) throw new ArgumentError(fn, 'paths', 'must be a video file path or a non-empty list of them');
  list.forEach((p, i) => {
    if (typeof p !== 'string' || p.length === 0) throw new ArgumentError(fn, `paths[${i}]`, `must be a non-empty string, got ${String(p)}`);
  });
  checkSourceConfig(fn, config);
  const d = DEFAULT_FROM_VIDEO_FILE_CONFIG;
  const fps = config.fps ?? d.fps;
  if (fps !== null && !(typeof fps === 'number' && Number.isFinite(fps) && fps > 0 && fps <= 1000)) throw new ArgumentError(fn, 'config.fps', `must be a number in (0, 1000] or null (the video's rate), got ${fps}`);
  const size = config.size ?? d.size;
  if (size !== null) {
    const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 16384;
    if (typeof size !== 'object' || !ok(size.width) || !ok(size.height)) throw new ArgumentError(fn, 'config.size', `must be { width, height } in whole pixels (1..16384) or null (the video's size), got ${JSON.stringify(size)}`);
  }
  const start = config.startTime ?? d.startTime;
  if (!(typeof start === 'number' && Number.isFinite(start) && start >= 0)) throw new ArgumentError(fn, 'config.startTime', `must be a number of seconds >= 0, got ${start}`);
  const duration = config.duration ?? d.duration;
  if (duration !== null && !(typeof duration === 'number' && Number.isFinite(duration) && duration > 0)) throw new ArgumentError(fn, 'config.duration', `must be a number of seconds > 0 or null, got ${duration}`);
  const channels = config.channels ?? d.channels;
  if (channels !== 1 && channels !== 3) throw new ArgumentError(fn, 'config.channels', `must be 1 or 3, got ${channels}`);
  const interleave = videoInterleaver(fn, config, { concurrency: d.concurrency, onError: typeof paths === 'string' ? 'error' : d.onError }, VideoDecodeError);
  const bufferFrames = config.bufferFrames ?? d.bufferFrames;
  if (!(Number.isInteger(bufferFrames) && bufferFrames >= 2)) throw new ArgumentError(fn, 'config.bufferFrames', `must be an integer >= 2, got ${bufferFrames}`);
  const killGraceMs = config.killGraceMs ?? d.killGraceMs;
  if (!(Number.isFinite(killGraceMs) && killGraceMs >= 0)) throw new ArgumentError(fn, 'config.killGraceMs', `must be a number of ms >= 0, got ${killGraceMs}`);
  const strict = config.strict ?? d.strict;
  const files = list.map((p) => resolve(p));
  const videoIdOf = config.videoId ?? ((p: string) => p);

  return new DataSource<Frame>((): PullIterator<Frame> => {
    let location: FfmpegLocation | undefined;
    const cursor = new EpochCursor(resolveSubset(fn, files.length, config), { ...config, start: 0 }); // start counts frames: videoInterleaver skips them
    async function* openers(): AsyncGenerator<() => PullIterator<Frame>, undefined> {
      location ??= findFfmpeg({ ffmpegPath: config.ffmpegPath, ffprobePath: config.ffprobePath });
      if ((fps === null || size === null) && location.ffprobe === undefined) {
        throw new FfmpegNotFoundError(`${fn}: no ffprobe found to read the video's ${fps === null ? 'frame rate' : 'size'}. Pass config.fps and config.size, or install ffprobe (it comes with Debian's ffmpeg package) / set ffprobePath`);
      }
      for (let at = cursor.next(); at; at = cursor.next()) {
        const file = files[at.index];
        const epoch = at.epoch;
        yield () => lazyVideo(file, epoch, location!);
      }
      return undefined;
    }
    // A video's iterator that probes (if needed) and starts ffmpeg on its first pull.
    const lazyVideo = (file: string, epoch: number, loc: FfmpegLocation): PullIterator<Frame> => {
      let inner: PullIterator<Frame> | undefined;
      let closed = false;
      return {
        async next() {
          if (closed) return { done: true, value: undefined };
          if (!inner) {
            try {
              await stat(file);
            } catch (err) {
              throw new VideoDecodeError({ file, framesDecoded: 0, exitCode: null, stderr: '', problem: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }, { cause: err });
            }
            let rate = fps === null ? undefined : { text: rationalOf(fps), value: fps };
            let dims = size;
            if (rate === undefined || dims === null) {
              const p = await probe(loc.ffprobe!, file);
              rate ??= p.rate;
              dims ??= { width: p.width, height: p.height };
            }
            if (closed) return { done: true, value: undefined };
            inner = decodeVideo(
              { file, videoId: videoIdOf(file), epoch, fps: rate.text, fpsValue: rate.value, width: dims.width, height: dims.height, channels, start, duration, strict },
              loc.ffmpeg,
              { bufferFrames, killGraceMs, onSpawn: config.onSpawn, stats: config.stats },
            );
          }
          return inner.next();
        },
        async return() {
          closed = true;
          await inner?.return?.(undefined);
          return { done: true, value: undefined };
        },
      };
    };
    return interleave(openers());
  });
}

/** A rate as an exact fraction for ffmpeg's fps filter (29.97 -> 2997/100). */
function rationalOf(x: number): string {
  if (Number.isInteger(x)) return `${x}/1`;
  for (let den = 10; den <= 1e6; den *= 10) {
    const num = Math.round(x * den);
    if (Math.abs(num / den - x) < 1e-9) return `${num}/${den}`;
  }
  return `${Math.round(x * 1e6)}/1000000`;
}
