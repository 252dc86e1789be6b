/**
 * Messages between augmentInPool and its Piscina workers. One task is a chunk of samples;
 * pixels of in-memory samples travel packed in one transferred ArrayBuffer, and all outputs
 * of a chunk come back packed in one transferred ArrayBuffer.
 */
import type { AugmentSpec } from './spec.ts';
import type { SampleFailure } from '../data.ts';

export interface TaskItem {
  index: number;
  epoch: number;
  /** File to read and decode (ImageFile), or undefined for in-memory pixels. */
  path?: string;
  /** Real root the file must stay under. */
  root?: string;
  /** Channels to decode files to. */
  decodeChannels?: 1 | 3;
  /** A malformed in-memory sample: the worker reports this as its failure (no pixels sent). */
  invalid?: string;
  /** In-memory pixels: byte offset in `pixels`, and geometry. */
  offset?: number;
  width?: number;
  height?: number;
  channels?: number;
}

export interface AugmentTask {
  spec: AugmentSpec;
  seed: number;
  maxInputPixels: number;
  exactJpeg: boolean;
  items: TaskItem[];
  /** Packed HWC pixels of the in-memory items (transferred). */
  pixels?: ArrayBuffer;
  /**
   * A result buffer of an earlier chunk that the main thread is done with (transferred): the
   * worker writes this chunk's outputs into it when it is large enough, so that neither side
   * allocates a new buffer per chunk (fresh transferred buffers drive full GCs).
   */
  out?: ArrayBuffer;
  /** Set by AugmentPool: the worker reports `{ [TASK_STARTED]: taskId }` when it starts the task. */
  taskId?: number;
}

/**
 * Key of the message a worker posts (parentPort) when it starts a task: AugmentPool's per-task
 * timeout counts from then, so time spent queued or waiting for a replacement worker to boot
 * does not count.
 */
export const TASK_STARTED = 'contrastreamTaskStarted';

export interface OutputRef {
  offset: number;
  length: number;
  dtype: 'u8' | 'f32';
  shape: number[];
}

export type ItemResult =
  | { index: number; outputs: OutputRef[] }
  | { index: number; error: { reason: SampleFailure; name: string; message: string } };

export interface AugmentTaskResult {
  /** All outputs of the chunk (transferred); may be longer than the outputs. */
  buffer: ArrayBuffer;
  items: ItemResult[];
  /** Worker-side milliseconds spent (decode + augment), for stats. */
  busyMs: number;
}

/**
 * Prefix of the error a worker module throws when it cannot load (augmentWorker.mjs wraps its
 * imports with it), so that the pool reports WorkerError 'init' instead of waiting for workers
 * that will never start.
 */
export const WORKER_INIT_FAILED = 'contrastream augmentation worker failed to start:';
