/**
 * Video frames: the `Frame` type every frame source emits, the `FrameSource` contract, the
 * video errors, and `interleaveVideos`, which merges per-video pull iterators round-robin.
 *
 * A Frame is a decoded `Sample` (HWC uint8 pixels) that also says which video it comes from
 * and where in it: frame sources plug into every image operator (`augmentInPool`,
 * `batchWithPrefetch`) as they are, and the temporal operators (`temporalPositives`,
 * `frameSequences`) use `videoId`, `frameIndex` and `timestampMs`.
 *
 * Any Observable of Frames is a FrameSource (a webcam, frames made in memory, ...). What the
 * temporal operators rely on:
 * - within one video, `frameIndex` increases strictly (and `timestampMs` does not decrease);
 * - frames of several videos may be interleaved in any way;
 * - `last: true` on a video's final frame, when the source knows it, lets the operators
 *   release that video's buffer at once (otherwise at stream end or by LRU eviction).
 */
import type { Observable } from 'rxjs';
import { ArgumentError, ContrastreamError } from '../errors.ts';
import type { Sample } from '../data.ts';
import { autoRelease, type PullIterator } from './DataSource.ts';

/** One decoded video frame. `pixels` is HWC uint8, `width * height * channels` bytes, owned by the frame. */
export interface Frame extends Sample {
  /** Which video (fromVideoFile: the absolute path; fromFrameFolder: the subfolder's path). */
  videoId: string;
  /** 0-based position in the decoded stream of its video (after fps resampling and `start`). */
  frameIndex: number;
  /** Presentation time in the video, in milliseconds (from the start of the file, `start` included). */
  timestampMs: number;
  /** True on the video's final frame, when the source knows it. */
  last?: boolean;
}

/** Any Observable of frames. */
export type FrameSource = Observable<Frame>;

/** True for objects that look like Frames (used to check sources at run time). */
export function isFrame(item: unknown): item is Frame {
  if (item === null || typeof item !== 'object') return false;
  const f = item as Frame;
  return typeof f.videoId === 'string' && Number.isInteger(f.frameIndex) && typeof f.timestampMs === 'number' && f.pixels instanceof Uint8Array;
}

/** Checks a frame's fields; throws ArgumentError naming `fn` and what is wrong. */
export function checkFrame(fn: string, frame: unknown): asserts frame is Frame {
  if (!isFrame(frame)) {
    throw new ArgumentError(
      fn,
      'frame',
      `must be a Frame { videoId: string, frameIndex: integer, timestampMs: number, pixels: Uint8Array, width, height, channels }, got ${describe(frame)}. ` +
        'Use fromVideoFile or fromFrameFolder, or map your items to Frames first',
    );
  }
  if (!(frame.frameIndex >= 0) || !Number.isFinite(frame.timestampMs)) {
    throw new ArgumentError(fn, 'frame', `of video '${frame.videoId}' has frameIndex ${frame.frameIndex} and timestampMs ${frame.timestampMs}; both must be finite and frameIndex >= 0`);
  }
}

function describe(x: unknown): string {
  if (x === null || typeof x !== 'object') return String(x);
  return `{ ${Object.keys(x).slice(0, 8).join(', ')} }`;
}

/** No ffmpeg executable was found (or the one named cannot be run). */
export class FfmpegNotFoundError extends ContrastreamError {}

/**
 * A video could not be decoded: ffmpeg failed to open it, stopped with an error (a truncated or
 * corrupt file), was killed, or wrote a partial frame. Ends that video's stream; names the file.
 */
export class VideoDecodeError extends ContrastreamError {
  /** The video file (absolute path). */
  readonly file: string;
  /** Frames decoded and emitted before the failure. */
  readonly framesDecoded: number;
  /** ffmpeg's exit code (null when killed by a signal or not started). */
  readonly exitCode: number | null;
  /** The end of ffmpeg's stderr (up to 2 kB). */
  readonly stderr: string;
  constructor(info: { file: string; framesDecoded: number; exitCode: number | null; stderr: string; problem: string }, options?: { cause?: unknown }) {
    const tail = info.stderr.trim().split('\n').slice(-3).join(' | ');
    super(
      `video '${info.file}': ${info.problem} after ${info.framesDecoded} frame(s)${tail ? ` (ffmpeg: ${tail})` : ''}. ` +
        'The file is probably truncated or corrupt: re-encode or remove it; with several videos the others go on (onError: \'skip\').',
      options,
    );
    this.file = info.file;
    this.framesDecoded = info.framesDecoded;
    this.exitCode = info.exitCode;
    this.stderr = info.stderr;
  }
}

/** How a multi-video source handles a video that fails. */
export interface VideoErrorPolicy<E extends Error> {
  /** 'skip' (default): end that video, report it, go on with the others. 'error': end the whole stream. */
  onError?: 'skip' | 'error';
  /** Called with each skipped video's error (onError: 'skip'). */
  onSkip?: (error: E) => void;
}

/**
 * The per-video error handling and merging of a multi-video source (fromVideoFile,
 * fromFrameFolder), checked up front: `config.concurrency` (default `defaults.concurrency`) must
 * be a positive integer and `config.onError` (default `defaults.onError`) 'skip' or 'error',
 * else an ArgumentError naming `fn`. Returns what merges the source's per-video openers with
 * interleaveVideos: errors of class `videoError` are one video's failure (skipped and reported
 * to `config.onSkip` under 'skip'); any other error ends the stream. `config.start` (SourceConfig's)
 * skips that many frames of the merged stream: give the source's EpochCursor `start: 0`.
 */
export function videoInterleaver<E extends Error>(
  fn: string,
  config: VideoErrorPolicy<E> & { concurrency?: number; start?: number },
  defaults: { concurrency: number; onError: 'skip' | 'error' },
  videoError: abstract new (...args: never[]) => E,
): <T>(openers: AsyncIterator<() => PullIterator<T>, undefined> | Iterator<() => PullIterator<T>, undefined>) => PullIterator<T> {
  const start = config.start ?? 0;
  const concurrency = config.concurrency ?? defaults.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new ArgumentError(fn, 'config.concurrency', `must be a positive integer, got ${concurrency}`);
  const onError = config.onError ?? defaults.onError;
  if (onError !== 'skip' && onError !== 'error') throw new ArgumentError(fn, 'config.onError', `must be 'skip' or 'error', got ${String(onError)}`);
  const onSkip = config.onSkip as ((err: Error) => void) | undefined;
  return (openers) => skipFirst(interleaveVideos(openers, { concurrency, onError, onSkip, isVideoError: (err) => err instanceof videoError }), start);
}

/**
 * Drops the first `n` items of `it` (decoded, then released), so that SourceConfig's `start`
 * counts frames, the items a video source emits: frame k of the merged plan is the same with
 * or without `start` (the round-robin order depends only on the plan and `concurrency`, as
 * long as no video fails).
 */
function skipFirst<T>(it: PullIterator<T>, n: number): PullIterator<T> {
  if (n === 0) return it;
  let left = n;
  return {
    async next() {
      while (left > 0) {
        const r = await it.next();
        if (r.done) {
          left = 0;
          return r;
        }
        left--;
        autoRelease(r.value);
      }
      return it.next();
    },
    async return() {
      left = 0;
      await it.return?.(undefined);
      return { done: true, value: undefined };
    },
  };
}

/**
 * Merges per-video pull iterators: keeps up to `concurrency` videos open and emits their frames
 * round-robin (one frame from each open video in turn), opening the next video when one ends.
 * With onError 'skip', a video whose iterator throws an error accepted by `isVideoError` is
 * closed and reported, and the others go on; any other error ends the stream.
 */
export function interleaveVideos<T>(
  openers: AsyncIterator<() => PullIterator<T>, undefined> | Iterator<() => PullIterator<T>, undefined>,
  config: { concurrency: number; onError: 'skip' | 'error'; onSkip?: (err: Error) => void; isVideoError: (err: unknown) => boolean },
): PullIterator<T> {
  const open: PullIterator<T>[] = [];
  let turn = 0;
  let exhausted = false;
  let closed = false;
  const closeAll = async () => {
    closed = true;
    const all = open.splice(0);
    await Promise.all(all.map((it) => Promise.resolve(it.return?.(undefined)).catch(() => undefined)));
  };
  const fill = async () => {
    while (!exhausted && open.length < config.concurrency) {
      const r = await openers.next();
      if (r.done) {
        exhausted = true;
        break;
      }
      open.push(r.value());
    }
  };
  return {
    async next() {
      for (;;) {
        if (closed) return { done: true, value: undefined };
        try {
          await fill();
        } catch (err) {
          await closeAll();
          throw err;
        }
        if (open.length === 0) {
          closed = true;
          return { done: true, value: undefined };
        }
        turn %= open.length;
        const it = open[turn];
        let r: IteratorResult<T, undefined>;
        try {
          r = await it.next();
        } catch (err) {
          open.splice(turn, 1);
          void Promise.resolve(it.return?.(undefined)).catch(() => undefined);
          if (config.onError === 'skip' && config.isVideoError(err)) {
            config.onSkip?.(err as Error);
            continue;
          }
          await closeAll();
          throw err;
        }
        if (closed) {
          if (!r.done) autoRelease(r.value);
          return { done: true, value: undefined };
        }
        if (r.done) {
          open.splice(turn, 1);
          continue;
        }
        turn++;
        return r;
      }
    },
    async return() {
      await closeAll();
      return { done: true, value: undefined };
    },
  };
}
