/**
 * Frames stored as image files (jpg, png, webp), e.g. what `ffmpeg -i v.mp4 frames/v/%05d.png`
 * writes. Layouts:
 * - `root/<video>/<frames>`: every first-level subfolder is one video (its images, recursively);
 * - `root/<frames>`: no subfolders with images -> the whole folder is one video.
 * Frames of a video are ordered by name in natural order (`f2.png` before `f10.png`), so
 * zero-padding is not required. Frame n has `timestampMs = 1000 n / fps`.
 *
 *   fromFrameFolder('clips', { fps: 10, concurrency: 4 }).pipe(temporalPositives({ window: { ms: 300 } }))
 *
 * Images are decoded on the calling thread (sharp / the TypeScript JPEG decoder), one at a time
 * as frames are pulled, so at most one frame per open video is held. Links must stay under the
 * root (see listImageFolder). A frame that cannot be read or decoded ends its video's frames
 * with a SampleError naming the file; with `onError: 'skip'` (the default) the other videos go
 * on, with `'error'` the whole stream ends.
 */
import { readFile, realpath } from 'node:fs/promises';
import { ArgumentError } from '../errors.ts';
import { PathEscapeError, SampleError } from '../data.ts';
import { DataSource, type PullIterator } from './DataSource.ts';
import { checkSourceConfig, EpochCursor, resolveSubset, type SourceConfig } from '../internal/sourcePlan.ts';
import { listImageFolder, isInside, DEFAULT_IMAGE_EXTENSIONS } from './listImageFolder.ts';
import { decodeImage, DEFAULT_DECODE_CONFIG } from '../augment/decodeImage.ts';
import { videoInterleaver, type Frame, type VideoErrorPolicy } from './FrameSource.ts';

export interface FromFrameFolderConfig extends SourceConfig, VideoErrorPolicy<SampleError> {
  /** Frame rate the images were taken at, for `timestampMs`. Default 25. */
  fps?: number;
  /** 3 (RGB) or 1 (luminance). Default 3. */
  channels?: 1 | 3;
  /** Extensions to include (case-insensitive). Default .jpg .jpeg .png .webp. */
  extensions?: readonly string[];
  /** Videos read at once; their frames are interleaved round-robin. Default 1. */
  concurrency?: number;
  /** Reject images with more pixels than this (from the header). Default 40 megapixels. */
  maxInputPixels?: number;
}

export const DEFAULT_FROM_FRAME_FOLDER_CONFIG = { fps: 25, channels: 3, concurrency: 1, onError: 'skip', extensions: DEFAULT_IMAGE_EXTENSIONS } as const;

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** The videos of a frame folder: id (real folder path) and frame files in natural order. */
export async function listFrameFolder(root: string, extensions?: readonly string[]): Promise<{ root: string; videos: { id: string; files: string[] }[] }> {
  const byFolder = await listImageFolder(root, { labels: true, extensions });
  let videos: { id: string; files: string[] }[];
  if (byFolder.files.length > 0) {
    const groups = byFolder.classes.map((name) => ({ id: `${byFolder.root}/${name}`, files: [] as string[] }));
    byFolder.files.forEach((f, i) => groups[byFolder.labels[i]].files.push(f));
    videos = groups.filter((g) => g.files.length > 0);
  } else {
    const flat = await listImageFolder(root, { labels: false, extensions });
    videos = flat.files.length > 0 ? [{ id: flat.root, files: flat.files }] : [];
  }
  for (const v of videos) v.files.sort((a, b) => collator.compare(a, b));
  return { root: byFolder.root, videos };
}

export function fromFrameFolder(root: string, config: FromFrameFolderConfig = {}): DataSource<Frame> {
  const fn = 'fromFrameFolder';
  if (typeof root !== 'string' || root.length === 0) throw new ArgumentError(fn, 'root', 'must be a directory path');
  checkSourceConfig(fn, config);
  const d = DEFAULT_FROM_FRAME_FOLDER_CONFIG;
  const fps = config.fps ?? d.fps;
  if (!(typeof fps === 'number' && Number.isFinite(fps) && fps > 0)) throw new ArgumentError(fn, 'config.fps', `must be a number > 0, got ${fps}`);
  const channels = config.channels ?? d.channels;
  if (channels !== 1 && channels !== 3) throw new ArgumentError(fn, 'config.channels', `must be 1 or 3, got ${channels}`);
  const interleave = videoInterleaver(fn, config, d, SampleError);
  const maxInputPixels = config.maxInputPixels ?? DEFAULT_DECODE_CONFIG.maxInputPixels;

  return new DataSource<Frame>((): PullIterator<Frame> => {
    async function* openers(): AsyncGenerator<() => PullIterator<Frame>, undefined> {
      const listing = await listFrameFolder(root, config.extensions);
      const cursor = new EpochCursor(resolveSubset(fn, listing.videos.length, config), { ...config, start: 0 }); // start counts frames: videoInterleaver skips them
      for (let at = cursor.next(); at; at = cursor.next()) {
        const video = listing.videos[at.index];
        const epoch = at.epoch;
        yield () => videoFrames(listing.root, video, epoch);
      }
      return undefined;
    }
    const videoFrames = (realRoot: string, video: { id: string; files: string[] }, epoch: number): PullIterator<Frame> => {
      let n = 0;
      let closed = false;
      return {
        async next() {
          if (closed || n >= video.files.length) return { done: true, value: undefined };
          const i = n++;
          const path = video.files[i];
          let bytes: Uint8Array;
          try {
            const real = await realpath(path);
            if (!isInside(realRoot, real)) throw new PathEscapeError(path, real, realRoot);
            bytes = await readFile(real);
          } catch (err) {
            if (err instanceof PathEscapeError) throw err;
            throw new SampleError({ index: i, epoch, path, reason: 'read', message: (err as Error).message }, { cause: err });
          }
          let img;
          try {
            img = await decodeImage(bytes, { channels, maxInputPixels, exactJpeg: true });
          } catch (err) {
            const e = err as Error & { reason?: 'decode' | 'too-large' };
            throw new SampleError({ index: i, epoch, path, reason: e.reason ?? 'decode', message: e.message }, { cause: err });
          }
          if (closed) return { done: true, value: undefined };
          const frame: Frame = {
            index: i,
            epoch,
            path,
            videoId: video.id,
            frameIndex: i,
            timestampMs: (1000 * i) / fps,
            pixels: img.pixels().slice(), // own copy (the JPEG decoder reuses its scratch memory)
            width: img.width,
            height: img.height,
            channels: img.channels,
          };
          if (i === video.files.length - 1) frame.last = true;
          return { done: false, value: frame };
        },
        async return() {
          closed = true;
          return { done: true, value: undefined };
        },
      };
    };
    return interleave(openers());
  });
}
