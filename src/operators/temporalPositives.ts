/**
 * temporalPositives: turns frame streams into contrastive training tuples where time supplies
 * the positives ("slowness": frames close in time show the same things). Each tuple is
 *
 *   { anchor, positives: [p_1, ..., p_{1+extraPositives}], negatives: [n_1, ..., n_M] }
 *
 * with, for distance d = |frameIndex_a - frameIndex_b| (window in frames) or
 * |timestampMs_a - timestampMs_b| (window in ms):
 * - every positive from the anchor's video, minOffset <= d(anchor, p) <= window, p != anchor
 *   (distinct positives while there are enough candidates, else drawn again);
 * - every negative from another video, or from the anchor's video with d(anchor, n) > window
 *   (or > negativeMargin when that is larger).
 * Anchors with no positive candidate (a one-frame video, a window smaller than the frame
 * spacing) or, when negatives are asked for, no negative candidate, are dropped and counted in
 * `stats.droppedAnchors`.
 *
 *   fromVideoFile(files, { fps: 10, concurrency: 4 })
 *     .pipe(temporalPositives({ window: { frames: 3 }, negatives: 4 }))
 *
 * Memory: per video a buffer of recent frames (the anchor being completed and its window on
 * both sides, at most `maxBufferFrames`) and a reservoir sample of older frames
 * (`negativePoolSize`, for same-video negatives); at most `maxVideos` videos are open (the
 * least recently seen is flushed and closed beyond that; a frame with `last: true` closes its
 * video at once); a shared reservoir keeps frames of closed videos for negatives. Nothing grows
 * with video length or count. A frame becomes an anchor once a frame more than `window` after
 * it has arrived (its future window is complete), or when its video ends or is evicted; if the
 * buffer is full first, it becomes an anchor with the frames there are (the window rules hold
 * for every tuple all the same).
 *
 * Input: any Frame stream (see FrameSource); videos may be interleaved. Within a video (and
 * epoch: the same video in another epoch is tracked apart) frameIndex must increase strictly,
 * else the stream ends with an ArgumentError. Pull-based:
 * frames are pulled only to make the next tuple. Randomness is a function of `seed` and the
 * anchor (video, frame), so output does not depend on timing.
 */
import type { Observable, OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { DataSource, type PullIterator } from '../sources/DataSource.ts';
import { UpstreamCursor } from '../internal/upstreamCursor.ts';
import { checkFrame, type Frame } from '../sources/FrameSource.ts';
import { Rng } from '../internal/prng.ts';

/** A distance along a video: in frames (frameIndex) or in milliseconds (timestampMs). */
export type TemporalSpan = { frames: number } | { ms: number };

export interface TemporalPositivesConfig {
  /** Positives lie within this distance of the anchor: { frames: N } (±N frames) or { ms: T } (±T ms). */
  window: TemporalSpan;
  /** Smallest anchor-positive distance, in the window's unit. Default 1 frame / the smallest step > 0 ms. */
  minOffset?: number;
  /** Positives beyond the first, per tuple. Default 0. */
  extraPositives?: number;
  /** Explicit negatives per tuple (other videos, or the same video outside the window). Default 0. */
  negatives?: number;
  /** Same-video negatives must be farther than this (window's unit). Default: the window. */
  negativeMargin?: number;
  /** Every k-th frame of a video becomes an anchor. Default 1. */
  anchorStride?: number;
  /** Frames buffered per video. Default 4 * window (frames) + 8, at least 16, for frame windows; 256 for ms windows. */
  maxBufferFrames?: number;
  /** Videos open at once (least recently seen is flushed beyond this). Default 16. */
  maxVideos?: number;
  /** Older frames kept per video, and of closed videos, for negatives. Default 32. */
  negativePoolSize?: number;
  /**
   * Shuffle the output through a buffer of this many tuples (0 = in order of completion). Tuples
   * come out in time order per video, so a batch of consecutive tuples holds many neighbours in
   * time; a buffer of a few batches mixes videos and moments (the memory it takes is this many
   * tuples). Default 0.
   */
  shuffleBuffer?: number;
  /** Seed of the sampling. Default 0. */
  seed?: number;
  /** Counters. */
  stats?: TemporalPositivesStats;
}

export const DEFAULT_TEMPORAL_POSITIVES_CONFIG = {
  extraPositives: 0,
  negatives: 0,
  anchorStride: 1,
  maxVideos: 16,
  negativePoolSize: 32,
  shuffleBuffer: 0,
  seed: 0,
  msBufferFrames: 256,
} as const;

export interface TemporalPositivesStats {
  tuples: number;
  /** Anchors dropped for lack of positive or negative candidates. */
  droppedAnchors: number;
  /** Anchors made before their future window was complete (buffer full). */
  forcedAnchors: number;
  /** Most frames buffered at once, over all videos (buffers + reservoirs). */
  peakBufferedFrames: number;
}

export function createTemporalPositivesStats(): TemporalPositivesStats {
  return { tuples: 0, droppedAnchors: 0, forcedAnchors: 0, peakBufferedFrames: 0 };
}

/** An anchor frame with its temporal positives and its negatives. */
export interface TemporalTuple {
  /** 0-based position of the tuple in the output stream. */
  index: number;
  anchor: Frame;
  /** 1 + extraPositives frames of the anchor's video within the window. */
  positives: Frame[];
  /** `negatives` frames of other videos, or of the anchor's video outside the window. */
  negatives: Frame[];
}

/** Where a frame is: all the window rules need. */
export type FramePosition = Pick<Frame, 'videoId' | 'frameIndex' | 'timestampMs'>;

/** Distance between two frames in the span's unit (Infinity across videos). */
export function temporalDistance(a: FramePosition, b: FramePosition, unit: 'frames' | 'ms'): number {
  if (a.videoId !== b.videoId) return Infinity;
  return unit === 'frames' ? Math.abs(a.frameIndex - b.frameIndex) : Math.abs(a.timestampMs - b.timestampMs);
}

/** True when `b` may serve as a negative of `a`: another video, or farther than `window`. */
export function isTemporalNegative(a: FramePosition, b: FramePosition, window: TemporalSpan): boolean {
  const { unit, size } = spanOf(window);
  return temporalDistance(a, b, unit) > size;
}

/** The unit and size of a span (no checks). */
export function spanOf(span: TemporalSpan): { unit: 'frames' | 'ms'; size: number } {
  return 'frames' in span ? { unit: 'frames', size: span.frames } : { unit: 'ms', size: span.ms };
}

/** Checks a span argument; returns its unit and size. */
export function checkSpan(fn: string, arg: string, span: unknown, integer: boolean): { unit: 'frames' | 'ms'; size: number } {
  const s = span as Record<string, unknown> | null;
  const hasF = s !== null && typeof s === 'object' && 'frames' in s;
  const hasM = s !== null && typeof s === 'object' && 'ms' in s;
  if (hasF === hasM) throw new ArgumentError(fn, arg, `must be { frames: N } or { ms: T }, got ${JSON.stringify(span)}`);
  if (hasF) {
    const v = s!.frames as number;
    if (!(Number.isFinite(v) && v >= 1 && (!integer || Number.isInteger(v)))) throw new ArgumentError(fn, `${arg}.frames`, `must be an integer >= 1, got ${String(v)}`);
    return { unit: 'frames', size: v };
  }
  const v = s!.ms as number;
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new ArgumentError(fn, `${arg}.ms`, `must be a number of milliseconds > 0, got ${String(v)}`);
  return { unit: 'ms', size: v };
}

interface VideoState {
  id: string;
  /** Recent frames in order; buf[anchorPos] is the next anchor candidate. */
  buf: Frame[];
  anchorPos: number;
  /** Frames that passed through anchorPos (for anchorStride). */
  anchorsSeen: number;
  lastFrameIndex: number;
  lastTimestampMs: number;
  reservoir: Frame[];
  evicted: number;
  lastSeen: number;
}

/** A reservoir sample (Algorithm R) of at most `cap` items. */
function reservoirAdd<T>(pool: T[], cap: number, seen: number, item: T, rng: Rng): void {
  if (cap <= 0) return;
  if (pool.length < cap) pool.push(item);
  else {
    const j = rng.int(0, seen + 1);
    if (j < cap) pool[j] = item;
  }
}

export function temporalPositives(config: TemporalPositivesConfig): OperatorFunction<Frame, TemporalTuple> {
  const fn = 'temporalPositives';
  if (!config || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object with at least { window: { frames: N } | { ms: T } }');
  const { unit, size: window } = checkSpan(fn, 'config.window', config.window, true);
  const d = DEFAULT_TEMPORAL_POSITIVES_CONFIG;
  const minOffset = config.minOffset ?? (unit === 'frames' ? 1 : Number.MIN_VALUE);
  if (!(typeof minOffset === 'number' && minOffset > 0 && minOffset <= window)) throw new ArgumentError(fn, 'config.minOffset', `must be > 0 and <= the window (${window} ${unit}), got ${minOffset}`);
  const extra = config.extraPositives ?? d.extraPositives;
  if (!(Number.isInteger(extra) && extra >= 0)) throw new ArgumentError(fn, 'config.extraPositives', `must be an integer >= 0, got ${extra}`);
  const numNegatives = config.negatives ?? d.negatives;
  if (!(Number.isInteger(numNegatives) && numNegatives >= 0)) throw new ArgumentError(fn, 'config.negatives', `must be an integer >= 0, got ${numNegatives}`);
  const margin = Math.max(window, config.negativeMargin ?? window);
  if (!Number.isFinite(margin)) throw new ArgumentError(fn, 'config.negativeMargin', `must be a finite number, got ${config.negativeMargin}`);
  const anchorStride = config.anchorStride ?? d.anchorStride;
  if (!(Number.isInteger(anchorStride) && anchorStride >= 1)) throw new ArgumentError(fn, 'config.anchorStride', `must be a positive integer, got ${anchorStride}`);
  const maxBuffer = config.maxBufferFrames ?? (unit === 'frames' ? Math.max(16, 4 * window + 8) : d.msBufferFrames);
  if (!(Number.isInteger(maxBuffer) && maxBuffer >= 2)) throw new ArgumentError(fn, 'config.maxBufferFrames', `must be an integer >= 2, got ${maxBuffer}`);
  const maxVideos = config.maxVideos ?? d.maxVideos;
  if (!(Number.isInteger(maxVideos) && maxVideos >= 1)) throw new ArgumentError(fn, 'config.maxVideos', `must be a positive integer, got ${maxVideos}`);
  const poolSize = config.negativePoolSize ?? d.negativePoolSize;
  if (!(Number.isInteger(poolSize) && poolSize >= 0)) throw new ArgumentError(fn, 'config.negativePoolSize', `must be an integer >= 0, got ${poolSize}`);
  const shuffleBuffer = config.shuffleBuffer ?? d.shuffleBuffer;
  if (!(Number.isInteger(shuffleBuffer) && shuffleBuffer >= 0)) throw new ArgumentError(fn, 'config.shuffleBuffer', `must be an integer >= 0, got ${shuffleBuffer}`);
  const seed = config.seed ?? d.seed;
  if (!Number.isFinite(seed)) throw new ArgumentError(fn, 'config.seed', `must be a finite number, got ${seed}`);
  const stats = config.stats;
  const dist = (a: Frame, b: Frame) => temporalDistance(a, b, unit);

  return (source: Observable<Frame>) =>
    new DataSource<TemporalTuple>((): PullIterator<TemporalTuple> => {
      const upstream = new UpstreamCursor(source);
      const videos = new Map<string, VideoState>();
      const retired: Frame[] = []; // reservoir of frames of closed videos
      let retiredSeen = 0;
      const out: TemporalTuple[] = [];
      let tick = 0;
      let emitted = 0;
      const poolRng = new Rng(seed, 0x52455356); // reservoir decisions
      const shuffleRng = new Rng(seed, 0x53485546); // output order
      const take = (): TemporalTuple => {
        let t: TemporalTuple;
        if (shuffleBuffer === 0) t = out.shift()!;
        else {
          const j = shuffleRng.int(0, out.length);
          t = out[j];
          out[j] = out[out.length - 1];
          out.pop();
        }
        t.index = emitted++;
        return t;
      };

      const hashId = (s: string) => {
        let h = 0x811c9dc5;
        for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
        return h >>> 0;
      };

      const trackPeak = () => {
        if (!stats) return;
        let n = retired.length;
        for (const v of videos.values()) n += v.buf.length + v.reservoir.length;
        stats.peakBufferedFrames = Math.max(stats.peakBufferedFrames, n);
      };

      /** Picks k items from `cands` (distinct while possible). */
      const pick = (cands: Frame[], k: number, rng: Rng): Frame[] => {
        const res: Frame[] = [];
        if (k <= cands.length) {
          const idx = cands.map((_, i) => i);
          for (let i = 0; i < k; i++) {
            const j = rng.int(i, idx.length);
            [idx[i], idx[j]] = [idx[j], idx[i]];
            res.push(cands[idx[i]]);
          }
        } else for (let i = 0; i < k; i++) res.push(cands[rng.int(0, cands.length)]);
        return res;
      };

      const makeTuple = (v: VideoState, pos: number) => {
        const anchor = v.buf[pos];
        const rng = new Rng(seed, hashId(v.id), anchor.frameIndex, anchor.epoch ?? 0);
        const posCands = v.buf.filter((f, i) => {
          if (i === pos) return false;
          const dd = dist(anchor, f);
          return dd >= minOffset && dd <= window;
        });
        if (posCands.length === 0) {
          if (stats) stats.droppedAnchors++;
          return;
        }
        let negatives: Frame[] = [];
        if (numNegatives > 0) {
          const negCands: Frame[] = [];
          for (const f of v.buf) if (dist(anchor, f) > margin) negCands.push(f);
          for (const f of v.reservoir) if (dist(anchor, f) > margin) negCands.push(f);
          for (const w of videos.values()) {
            if (w === v) continue;
            // another video, or the same video in another epoch: the distance decides
            for (const f of w.buf) if (dist(anchor, f) > margin) negCands.push(f);
            for (const f of w.reservoir) if (dist(anchor, f) > margin) negCands.push(f);
          }
          for (const f of retired) if (dist(anchor, f) > margin) negCands.push(f);
          if (negCands.length === 0) {
            if (stats) stats.droppedAnchors++;
            return;
          }
          negatives = pick(negCands, numNegatives, rng);
        }
        const positives = pick(posCands, 1 + extra, rng);
        out.push({ index: -1, anchor, positives, negatives });
        if (stats) stats.tuples++;
      };

      /** Anchor candidate at anchorPos: make its tuple if it is on the stride, then advance. */
      const advanceAnchor = (v: VideoState) => {
        if (v.anchorsSeen++ % anchorStride === 0) makeTuple(v, v.anchorPos);
        v.anchorPos++;
      };

      const evictFront = (v: VideoState) => {
        const f = v.buf.shift()!;
        v.anchorPos--;
        reservoirAdd(v.reservoir, poolSize, v.evicted++, f, poolRng);
      };

      const closeVideo = (v: VideoState) => {
        while (v.anchorPos < v.buf.length) advanceAnchor(v);
        videos.delete(v.id);
        for (const f of [...v.buf, ...v.reservoir]) reservoirAdd(retired, poolSize, retiredSeen++, f, poolRng);
      };

      const accept = (f: Frame) => {
        checkFrame(fn, f);
        const key = `${f.videoId}\u0000${f.epoch ?? 0}`; // a video's next epoch starts over
        let v = videos.get(key);
        if (v === undefined) {
          if (videos.size >= maxVideos) {
            let lru: VideoState | undefined;
            for (const w of videos.values()) if (!lru || w.lastSeen < lru.lastSeen) lru = w;
            closeVideo(lru!);
          }
          v = { id: key, buf: [], anchorPos: 0, anchorsSeen: 0, lastFrameIndex: -Infinity, lastTimestampMs: -Infinity, reservoir: [], evicted: 0, lastSeen: 0 };
          videos.set(key, v);
        }
        if (!(f.frameIndex > v.lastFrameIndex) || f.timestampMs < v.lastTimestampMs) {
          throw new ArgumentError(
            fn,
            'frame',
            `of video '${f.videoId}' came out of order: frameIndex ${f.frameIndex} (${f.timestampMs} ms) after ${v.lastFrameIndex} (${v.lastTimestampMs} ms). ` +
              'Within a video and epoch, frameIndex must increase and timestampMs must not decrease; give each video its own videoId and each pass over it its own epoch',
          );
        }
        v.lastFrameIndex = f.frameIndex;
        v.lastTimestampMs = f.timestampMs;
        v.lastSeen = ++tick;
        v.buf.push(f);
        // anchors whose future window is now complete
        while (v.anchorPos < v.buf.length - 1 && dist(v.buf[v.anchorPos], f) > window) advanceAnchor(v);
        // frames too old to be a positive of any later anchor
        const ref = v.anchorPos < v.buf.length ? v.buf[v.anchorPos] : f;
        while (v.anchorPos > 0 && dist(v.buf[0], ref) > window) evictFront(v);
        // bounded buffer
        while (v.buf.length > maxBuffer) {
          if (v.anchorPos === 0) {
            if (stats) stats.forcedAnchors++;
            advanceAnchor(v);
          }
          evictFront(v);
        }
        trackPeak();
        if (f.last) closeVideo(v);
      };

      return {
        async next() {
          for (;;) {
            if (out.length > 0 && (out.length > shuffleBuffer || upstream.done)) return { done: false, value: take() };
            if (upstream.done) return { done: true, value: undefined };
            const r = await upstream.pull();
            if (r === undefined) {
              const order = [...videos.values()].sort((a, b) => a.lastSeen - b.lastSeen);
              for (const v of order) closeVideo(v);
              continue;
            }
            upstream.feed(() => accept(r.value));
          }
        },
        async return() {
          out.length = 0;
          videos.clear();
          await upstream.close();
          return { done: true, value: undefined };
        },
      };
    });
}
