/**
 * Images in a folder tree: jpg, png and webp (by default), recursive, in sorted order; with
 * `labels: true` the first-level subfolders are classes (torchvision ImageFolder). See
 * listImageFolder for ordering and the symlink policy (links must stay under the root).
 *
 * By default the source emits `ImageFile`s (index, path, label) and the images are decoded
 * once, inside `augmentInPool`'s workers - the fast path. With `decode: true` it decodes on
 * the calling thread and emits `Sample`s (HWC pixels), for use without the pool; then a file
 * that cannot be read or decoded (or whose header declares more than maxInputPixels) is
 * skipped by default, as in augmentInPool: `onSkip` and a log line name it, and
 * `maxConsecutiveFailures` failures in a row (default 50) end the stream with
 * TooManyFailuresError. Transient read errors (EMFILE, EAGAIN, ...) are retried (bounded). A
 * file swapped for a link that leaves the root is never skipped silently: PathEscapeError.
 *
 *   fromImageFolder('data/train', { labels: true, shuffle: true, epochs: 100 })
 *     .pipe(augmentInPool({ augment: simclr({ size: 96 }) }), batchWithPrefetch({ batchSize: 256 }))
 */
import { readFile, realpath } from 'node:fs/promises';
import { ArgumentError } from '../errors.ts';
import { PathEscapeError, SampleError, type ImageFile, type Sample } from '../data.ts';
import type { DataSource } from './DataSource.ts';
import { indexedSource } from '../internal/indexedSource.ts';
import type { SourceConfig } from '../internal/sourcePlan.ts';
import { listImageFolder, isInside, DEFAULT_IMAGE_EXTENSIONS } from './listImageFolder.ts';
import { decodeImage, DEFAULT_DECODE_CONFIG } from '../augment/decodeImage.ts';
import { retryTransient } from '../internal/retryTransient.ts';
import { FailureCap, DEFAULT_MAX_CONSECUTIVE_FAILURES } from '../internal/failureCap.ts';

export interface FromImageFolderConfig extends SourceConfig {
  /** First-level subfolders are classes. Default false. */
  labels?: boolean;
  /** Extensions to include (case-insensitive). Default .jpg .jpeg .png .webp. */
  extensions?: readonly string[];
  /** Output channels after decoding: 3 (RGB, like PIL convert('RGB')) or 1 (luminance). Default 3. */
  channels?: 1 | 3;
  /** Decode here and emit Samples instead of ImageFiles. Default false. */
  decode?: boolean;
  /** With `decode`: reject images with more pixels than this (from the header). Default 40 megapixels. */
  maxInputPixels?: number;
  /** With `decode`: 'skip' (default) drops a failing file, 'error' ends the stream with its SampleError. */
  onError?: 'skip' | 'error';
  /** With `decode` and onError 'skip': called for every skipped file. */
  onSkip?: (error: SampleError) => void;
  /** With `decode` and onError 'skip': failures in a row that end the stream (TooManyFailuresError). Default 50. */
  maxConsecutiveFailures?: number;
  /** Where skip lines go (`null` = nowhere). Default console.warn. */
  log?: ((line: string) => void) | null;
}

export const DEFAULT_IMAGE_FOLDER_CONFIG = {
  labels: false,
  channels: 3,
  decode: false,
  extensions: DEFAULT_IMAGE_EXTENSIONS,
  onError: 'skip',
  maxConsecutiveFailures: DEFAULT_MAX_CONSECUTIVE_FAILURES,
} as const;

export function fromImageFolder(root: string, config: FromImageFolderConfig & { decode: true }): DataSource<Sample>;
export function fromImageFolder(root: string, config?: FromImageFolderConfig & { decode?: false }): DataSource<ImageFile>;
export function fromImageFolder(root: string, config?: FromImageFolderConfig): DataSource<ImageFile | Sample>;
export function fromImageFolder(root: string, config: FromImageFolderConfig = {}): DataSource<ImageFile | Sample> {
  const fn = 'fromImageFolder';
  if (typeof root !== 'string' || root.length === 0) throw new ArgumentError(fn, 'root', 'must be a directory path');
  const channels = config.channels ?? DEFAULT_IMAGE_FOLDER_CONFIG.channels;
  if (channels !== 1 && channels !== 3) throw new ArgumentError(fn, 'config.channels', `must be 1 or 3, got ${channels}`);
  const decode = config.decode ?? false;
  const maxInputPixels = config.maxInputPixels ?? DEFAULT_DECODE_CONFIG.maxInputPixels;
  const onError = config.onError ?? DEFAULT_IMAGE_FOLDER_CONFIG.onError;
  if (onError !== 'skip' && onError !== 'error') throw new ArgumentError(fn, 'config.onError', `must be 'skip' or 'error', got ${String(onError)}`);
  const maxFailures = config.maxConsecutiveFailures ?? DEFAULT_IMAGE_FOLDER_CONFIG.maxConsecutiveFailures;
  if (!(Number.isInteger(maxFailures) && maxFailures >= 1)) throw new ArgumentError(fn, 'config.maxConsecutiveFailures', `must be a positive integer, got ${config.maxConsecutiveFailures}`);
  const log = config.log === undefined ? (line: string) => console.warn(line) : config.log;
  // per failed sample: its raw message and the failure count of its subscription
  const failures = new WeakMap<object, { raw: string; cap: FailureCap }>();
  return indexedSource<ImageFile | Sample>(fn, config, async (signal) => {
    const cap = new FailureCap(fn, maxFailures, log, config.onSkip); // per subscription
    const listing = await listImageFolder(root, {
      labels: config.labels,
      extensions: config.extensions,
      isCancelled: () => signal.aborted,
    });
    const { files, labels } = listing;
    const withLabels = config.labels ?? false;
    return {
      length: files.length,
      async get(index: number, epoch: number): Promise<ImageFile | Sample> {
        const path = files[index];
        if (!decode) {
          const item: ImageFile = { index, epoch, path, root: listing.root, channels };
          if (withLabels) item.label = labels[index];
          return item;
        }
        // decode here (the file may have been swapped for a link since listing: re-check)
        let bytes: Uint8Array;
        try {
          const real = await realpath(path);
          if (!isInside(listing.root, real)) throw new PathEscapeError(path, real, listing.root);
          bytes = await retryTransient(() => readFile(real));
        } catch (err) {
          if (err instanceof PathEscapeError) throw err;
          const e = new SampleError({ index, epoch, path, reason: 'read', message: (err as Error).message }, { cause: err });
          failures.set(e, { raw: (err as Error).message, cap });
          throw e;
        }
        let img;
        try {
          img = await decodeImage(bytes, { channels, maxInputPixels, exactJpeg: true });
        } catch (err) {
          const e = err as Error & { reason?: 'decode' | 'too-large' };
          const se = new SampleError({ index, epoch, path, reason: e.reason ?? 'decode', message: e.message }, { cause: err });
          failures.set(se, { raw: e.message, cap });
          throw se;
        }
        const pixels = img.pixels();
        cap.ok();
        const s: Sample = { index, epoch, path, pixels, width: img.width, height: img.height, channels: img.channels };
        if (withLabels) s.label = labels[index];
        return s;
      },
    };
  }, {
    skip: (err) => {
      const f = err instanceof SampleError ? failures.get(err) : undefined;
      if (!decode || onError !== 'skip' || f === undefined) return false;
      f.cap.fail(err as SampleError, f.raw); // throws TooManyFailuresError at the cap
      return true;
    },
  });
}
