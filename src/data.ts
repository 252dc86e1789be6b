/**
 * Data-plane types and errors: what sources emit, what the augmentation pool emits, what the
 * batching and tensor operators emit.
 *
 * Layouts: images are HWC (row-major, channels interleaved); batches are NHWC.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ContrastreamError } from './errors.ts';

/** A decoded image. `pixels` is HWC uint8, `width * height * channels` bytes. */
export interface Sample {
  /** Position of the sample in its dataset (stable across epochs and shuffles). */
  index: number;
  /** HWC uint8. From file-backed sources this is a view into the loaded file: treat it as read-only. */
  pixels: Uint8Array;
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB); other counts are carried through where the transform allows. */
  channels: number;
  /** Integer class label, when the source has labels. */
  label?: number;
  /** Epoch this emission belongs to (0-based). Sources set it; default 0. */
  epoch?: number;
  /** File the sample came from, when there is one. */
  path?: string;
}

/**
 * An image file that has not been decoded yet. `fromImageFolder` emits these by default so
 * that decoding happens once, inside the augmentation workers.
 */
export interface ImageFile {
  index: number;
  /** Absolute path, already checked to lie under the dataset root. */
  path: string;
  label?: number;
  epoch?: number;
  /** Real path of the dataset root (workers re-check `path` against it before reading). */
  root?: string;
  /** Channels to decode to: 3 (RGB) or 1 (luminance). Default 3. */
  channels?: 1 | 3;
}

/** Anything a source can emit. */
export type SourceItem = Sample | ImageFile;

/** True when the item still has to be decoded. */
export function isImageFile(item: SourceItem): item is ImageFile {
  return (item as Sample).pixels === undefined && typeof (item as ImageFile).path === 'string';
}

/** One output array of an augmentation: an image view `[H, W, C]`, or patches `[P, h, w, C]`. */
export interface ViewArray {
  /** uint8 before Normalize / Lab, float32 after. */
  data: Uint8Array | Float32Array;
  shape: readonly number[];
}

/** A sample after augmentation: one entry per output of the augmentation spec. */
export interface AugmentedSample {
  index: number;
  epoch: number;
  label?: number;
  path?: string;
  views: ViewArray[];
}

/**
 * Reference-counted ownership of an emitted item (batches). The stream holds one reference
 * and drops it when the consumer is done: when a synchronous `next` handler returns, when a
 * `for await` loop asks for the next item, or when `pullMap`'s project settles. Call `retain()`
 * to keep the item past that point, and `release()` once per `retain()`.
 */
export interface Lease {
  retain(): this;
  release(): void;
  readonly released: boolean;
}

/** A batch of typed arrays, NHWC (`views[k].shape = [N, ...viewShape]`). */
export interface ArrayBatch extends Lease {
  readonly size: number;
  /** Dataset index of every row. */
  readonly indices: Int32Array;
  readonly epochs: Int32Array;
  /** Label of every row (-1 where a sample has none); undefined when no sample has one. */
  readonly labels: Int32Array | undefined;
  readonly views: ViewArray[];
}

/** A batch of tensors, NHWC float32 (or int32 for uint8 views when asked). */
export interface TensorBatch extends Lease {
  readonly size: number;
  readonly indices: Int32Array;
  readonly epochs: Int32Array;
  /** [N] int32, undefined when the samples have no labels. */
  readonly labels: tf.Tensor1D | undefined;
  /** One tensor per view, [N, H, W, C] (or [N, P, h, w, C] for patch grids). */
  readonly views: tf.Tensor[];
}

/** Why a sample failed. */
export type SampleFailure = 'read' | 'decode' | 'too-large' | 'augment' | 'worker';

/**
 * A sample could not be read, decoded or augmented. Names the sample (index, epoch, path)
 * and carries the underlying error as `cause`.
 */
export class SampleError extends ContrastreamError {
  readonly index: number;
  readonly epoch: number;
  readonly path: string | undefined;
  readonly reason: SampleFailure;

  constructor(
    info: { index: number; epoch?: number; path?: string; reason: SampleFailure; message: string },
    options?: { cause?: unknown },
  ) {
    const where = info.path ? ` (${info.path})` : '';
    const hint =
      info.reason === 'too-large'
        ? 'Shrink the file or raise maxInputPixels'
        : info.reason === 'worker'
          ? 'A worker thread failed; check memory limits and the worker error'
          : "Fix or remove the file (with onError: 'skip', the data-plane default, such samples are dropped and logged)";
    super(`sample ${info.index}${where}, epoch ${info.epoch ?? 0}: ${info.reason} failed: ${info.message}. ${hint}.`, options);
    this.index = info.index;
    this.epoch = info.epoch ?? 0;
    this.path = info.path;
    this.reason = info.reason;
  }
}

/** A path inside a dataset resolves (through symlinks or `..`) to a place outside its root. */
export class PathEscapeError extends ContrastreamError {
  readonly path: string;
  readonly root: string;
  constructor(path: string, resolved: string, root: string) {
    super(
      `path '${path}' resolves to '${resolved}', outside the dataset root '${root}'. ` +
        'Remove the link or copy the file under the root.',
    );
    this.path = path;
    this.root = root;
  }
}

/** A dataset file is malformed (bad magic, truncated, inconsistent sizes). */
export class DataFormatError extends ContrastreamError {
  readonly file: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
  }
}

/** Samples in one batch have different view shapes. */
export class BatchShapeError extends ContrastreamError {}

/**
 * Too many samples failed in a row (corrupt files, a dead mount, a wrong folder): the stream
 * stops instead of skipping its way through a broken dataset. Names the last failures.
 */
export class TooManyFailuresError extends ContrastreamError {
  /** Consecutive failures when the stream stopped (= the cap). */
  readonly consecutive: number;
  /** The last failures (at most 5), oldest first. */
  readonly failures: readonly SampleError[];
  constructor(where: string, consecutive: number, failures: readonly SampleError[]) {
    const last = failures.at(-1);
    const names = failures.map((f) => (f.path !== undefined ? `'${f.path}'` : `#${f.index}`)).join(', ');
    super(
      `${where}: ${consecutive} samples failed in a row (last: ${names}); stopping. ` +
        `Last error: ${last?.message ?? 'unknown'} ` +
        'Check the dataset path and files, or raise maxConsecutiveFailures.',
      { cause: last },
    );
    this.consecutive = consecutive;
    this.failures = failures;
  }
}

/** How a worker task failed. */
export type WorkerFailure = 'exit' | 'out-of-memory' | 'timeout' | 'init' | 'aborted' | 'destroyed' | 'crash';

/**
 * A worker thread of the augmentation pool failed while running a task: it exited, ran out of
 * its heap (resourceLimits), exceeded the per-task timeout, or could not start. Only the tasks
 * it was running fail; the pool replaces the worker (except for `init`, which is permanent).
 */
export class WorkerError extends ContrastreamError {
  readonly kind: WorkerFailure;
  constructor(kind: WorkerFailure, message: string, options?: { cause?: unknown }) {
    const hint: Record<WorkerFailure, string> = {
      exit: 'The worker thread exited; the pool started a new one.',
      'out-of-memory': 'Raise the pool resourceLimits (maxOldGenerationSizeMb) or lower maxInputPixels / chunkSize.',
      timeout: 'The task exceeded taskTimeoutMs; the worker was terminated and replaced. Raise taskTimeoutMs for very large images.',
      init: 'The worker module failed to load; fix the error above (missing module, native addon) and restart.',
      aborted: 'The task was aborted by its signal.',
      destroyed: 'The pool was destroyed; create a new one.',
      crash: 'The worker thread failed; the pool started a new one.',
    };
    super(`augmentation worker ${kind}: ${message}. ${hint[kind]}`, options);
    this.kind = kind;
  }
}
