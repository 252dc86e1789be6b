/**
 * frameSequences: runs of consecutive frames of one video, for models that predict the future
 * from the past (CPC: the context of frames 0..t predicts the features of frame t + k).
 *
 *   fromVideoFile(files, { fps: 10 }).pipe(frameSequences({ length: 8, hop: 4 }))
 *     // { videoId, frames: [f_s, f_{s+1}, ..., f_{s+7}] }, s = 0, 4, 8, ...
 *
 * A sequence holds `length` frames whose frameIndex steps by exactly `step` (1 = every frame;
 * 2 = every other frame, ...), in time order. Consecutive sequences of a video start `hop`
 * frames apart (default `length`: no overlap). A gap in a video's frameIndex (dropped frames,
 * a frame filter upstream) breaks the run: the sequence being built is discarded and a new one
 * starts after the gap, so no sequence ever straddles missing frames. Videos may be interleaved;
 * each keeps at most (length - 1) * step + 1 frames, and at most `maxVideos` are open (the least
 * recently seen is dropped beyond that; a frame with `last: true` closes its video).
 * Frames within a video must come in increasing frameIndex (else ArgumentError in the stream).
 */
import type { Observable, OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { DataSource, type PullIterator } from '../sources/DataSource.ts';
import { UpstreamCursor } from '../internal/upstreamCursor.ts';
import { checkFrame, type Frame } from '../sources/FrameSource.ts';

export interface FrameSequencesConfig {
  /** Frames per sequence (T). */
  length: number;
  /** frameIndex step between successive frames of a sequence. Default 1. */
  step?: number;
  /** Frames (of the stepped run) between the starts of consecutive sequences. Default `length`. */
  hop?: number;
  /** Videos open at once. Default 16. */
  maxVideos?: number;
}

export const DEFAULT_FRAME_SEQUENCES_CONFIG = { step: 1, maxVideos: 16 } as const;

/** `length` frames of one video, frameIndex stepping by `step`. */
export interface FrameSequence {
  /** 0-based position in the output stream. */
  index: number;
  videoId: string;
  frames: Frame[];
}

interface RunState {
  /** Frames of the current stepped run (the last `length` at most). */
  run: Frame[];
  /** Frames of the run consumed so far (for `hop`). */
  runPos: number;
  nextStart: number;
  lastFrameIndex: number;
  lastSeen: number;
}

export function frameSequences(config: FrameSequencesConfig): OperatorFunction<Frame, FrameSequence> {
  const fn = 'frameSequences';
  if (!config || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object with at least { length }');
  const length = config.length;
  if (!(Number.isInteger(length) && length >= 1)) throw new ArgumentError(fn, 'config.length', `must be a positive integer, got ${length}`);
  const step = config.step ?? DEFAULT_FRAME_SEQUENCES_CONFIG.step;
  if (!(Number.isInteger(step) && step >= 1)) throw new ArgumentError(fn, 'config.step', `must be a positive integer, got ${step}`);
  const hop = config.hop ?? length;
  if (!(Number.isInteger(hop) && hop >= 1)) throw new ArgumentError(fn, 'config.hop', `must be a positive integer, got ${hop}`);
  const maxVideos = config.maxVideos ?? DEFAULT_FRAME_SEQUENCES_CONFIG.maxVideos;
  if (!(Number.isInteger(maxVideos) && maxVideos >= 1)) throw new ArgumentError(fn, 'config.maxVideos', `must be a positive integer, got ${maxVideos}`);

  return (source: Observable<Frame>) =>
    new DataSource<FrameSequence>((): PullIterator<FrameSequence> => {
      const upstream = new UpstreamCursor(source);
      const videos = new Map<string, RunState>();
      let tick = 0;
      let count = 0;

      /** Adds a frame; returns a finished sequence, if any. */
      const accept = (f: Frame): FrameSequence | undefined => {
        checkFrame(fn, f);
        const key = `${f.videoId}\u0000${f.epoch ?? 0}`; // a video's next epoch starts over
        let s = videos.get(key);
        if (s === undefined) {
          if (videos.size >= maxVideos) {
            let lru: [string, RunState] | undefined;
            for (const e of videos) if (!lru || e[1].lastSeen < lru[1].lastSeen) lru = e;
            videos.delete(lru![0]);
          }
          s = { run: [], runPos: 0, nextStart: 0, lastFrameIndex: -Infinity, lastSeen: 0 };
          videos.set(key, s);
        }
        if (!(f.frameIndex > s.lastFrameIndex)) {
          throw new ArgumentError(fn, 'frame', `of video '${f.videoId}' came out of order: frameIndex ${f.frameIndex} after ${s.lastFrameIndex}. Within a video frameIndex must increase`);
        }
        s.lastSeen = ++tick;
        const prev = s.run.length > 0 ? s.run[s.run.length - 1] : undefined;
        s.lastFrameIndex = f.frameIndex;
        let result: FrameSequence | undefined;
        if (prev !== undefined && f.frameIndex - prev.frameIndex !== step) {
          if (f.frameIndex - prev.frameIndex < step) {
            // between two frames of the stepped run: not part of it
            if (f.last) videos.delete(key);
            return undefined;
          }
          // a gap: start a new run here
          s.run = [];
          s.runPos = 0;
          s.nextStart = 0;
        }
        s.run.push(f);
        s.runPos++;
        if (s.run.length > length) s.run.shift();
        // the run's frames so far are positions runPos - run.length .. runPos - 1
        if (s.run.length === length && s.runPos - length === s.nextStart) {
          result = { index: count++, videoId: f.videoId, frames: s.run.slice() };
          s.nextStart += hop;
        }
        if (f.last) videos.delete(key);
        return result;
      };

      return {
        async next() {
          for (;;) {
            const r = await upstream.pull();
            if (r === undefined) {
              videos.clear();
              return { done: true, value: undefined };
            }
            const seq = upstream.feed(() => accept(r.value));
            if (seq) return { done: false, value: seq };
          }
        },
        async return() {
          videos.clear();
          await upstream.close();
          return { done: true, value: undefined };
        },
      };
    });
}
