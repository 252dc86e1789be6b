/**
 * Piscina worker of augmentInPool: decodes each image of a chunk once and applies every view
 * of the spec to it. Loaded through augmentWorker.mjs (which makes .ts importable in the
 * worker thread).
 */
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import sharp from 'sharp';
import { applyAugment } from './applyAugment.ts';
import { decodeImageSync, decodeWithSharp, DecodeError } from './decodeImage.ts';
import { PixelImage, type SourceImage } from './sourceImage.ts';
import { isInside } from '../sources/listImageFolder.ts';
import { checkImageHeader } from './imageHeader.ts';
import { retryTransient } from '../internal/retryTransient.ts';
import { TASK_STARTED, type AugmentTask, type AugmentTaskResult, type ItemResult, type OutputRef, type TaskItem } from './workerProtocol.ts';
import type { ViewArray, SampleFailure } from '../data.ts';

// One libvips thread per worker: parallelism comes from the pool.
sharp.concurrency(1);
sharp.cache(false);

class ItemError extends Error {
  constructor(
    readonly reason: SampleFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The real path of a file: its folder's real path (resolved once per task: `dirs`) joined with
 * its name, unless the file itself is a link (lstat), which is resolved in full. Same result as
 * realpath(path), at one lstat per file instead of one per path component. A folder swapped
 * for a link is seen by the next task (the window is one chunk, a few ms, like the window
 * between any check and the read).
 */
function realPathOf(path: string, dirs: Map<string, string>): string {
  if (lstatSync(path).isSymbolicLink()) return realpathSync(path);
  const dir = dirname(path);
  let real = dirs.get(dir);
  if (real === undefined) {
    real = realpathSync(dir);
    dirs.set(dir, real);
  }
  return join(real, basename(path));
}

/**
 * Reads an item's bytes (files) or wraps its pixels (in-memory samples). The real path is
 * re-checked against the dataset root (a link may have been swapped since the listing), and
 * transient errors (EMFILE, EAGAIN, ...) are retried a bounded number of times. File reads are
 * synchronous: this thread has nothing else to do meanwhile, and the thread-pool round trips
 * of fs/promises (open, fstat, read, close) cost more than the reads.
 */
async function read(task: AugmentTask, item: TaskItem, dirs: Map<string, string>): Promise<Uint8Array | PixelImage> {
  if (item.invalid !== undefined) throw new ItemError('decode', item.invalid);
  if (item.path === undefined) {
    const { offset = 0, width = 0, height = 0, channels = 0 } = item;
    return new PixelImage(new Uint8Array(task.pixels!, offset, width * height * channels), width, height, channels);
  }
  const path = item.path;
  try {
    const real = await retryTransient(async () => realPathOf(path, dirs));
    if (item.root !== undefined && !isInside(item.root, real)) {
      throw new ItemError('read', `resolves to '${real}', outside the dataset root '${item.root}'`);
    }
    return await retryTransient(async () => readFileSync(real));
  } catch (err) {
    if (err instanceof ItemError) throw err;
    throw new ItemError('read', (err as Error).message);
  }
}

function asItemError(err: unknown): ItemError {
  if (err instanceof ItemError) return err;
  if (err instanceof DecodeError) return new ItemError(err.reason, err.message);
  return new ItemError('decode', (err as Error).message);
}

/**
 * The chunk's result buffer, filled item by item: applyAugment allocates its outputs here
 * (OutputAlloc), so views are neither allocated one by one nor copied. Starts from the buffer
 * the main thread sent back (task.out) when there is one; grows by copying what it holds.
 */
class OutputArena {
  buffer: ArrayBuffer;
  used = 0;
  /** Every buffer this arena used (views made before a growth point into an older one). */
  private readonly buffers = new Set<ArrayBufferLike>();

  constructor(initial: ArrayBuffer | undefined, expected: number) {
    this.buffer = initial && initial.byteLength >= expected ? initial : new ArrayBuffer(roundUp(expected));
    this.buffers.add(this.buffer);
  }

  readonly alloc = (kind: 'f32' | 'u8', length: number): Float32Array | Uint8Array => {
    const start = (this.used + 3) & ~3; // 4-byte aligned so that float32 views are valid
    const bytes = kind === 'f32' ? length * 4 : length;
    if (start + bytes > this.buffer.byteLength) {
      const grown = new ArrayBuffer(roundUp(Math.max(start + bytes, this.buffer.byteLength * 1.5)));
      new Uint8Array(grown).set(new Uint8Array(this.buffer, 0, this.used));
      this.buffer = grown;
      this.buffers.add(grown);
    }
    this.used = start + bytes;
    return kind === 'f32' ? new Float32Array(this.buffer, start, length) : new Uint8Array(this.buffer, start, length);
  };

  /** Byte offset of an output in `buffer` (copied in when applyAugment made it elsewhere). */
  place(data: Float32Array | Uint8Array): number {
    if (this.buffers.has(data.buffer)) return data.byteOffset;
    const dst = this.alloc(data instanceof Float32Array ? 'f32' : 'u8', data.length);
    (dst as Float32Array | Uint8Array).set(data as never);
    return dst.byteOffset;
  }
}

const roundUp = (n: number) => Math.ceil(n / 65536) * 65536;

// Result bytes per item of the last chunk: the first guess for the next chunk's buffer.
let bytesPerItem = 0;

function augment(task: AugmentTask, item: TaskItem, img: SourceImage, arena: OutputArena): ViewArray[] {
  try {
    return applyAugment(img, task.spec, { seed: task.seed, epoch: item.epoch, index: item.index }, arena.alloc);
  } catch (err) {
    throw new ItemError('augment', (err as Error).message);
  }
}

/**
 * Decodes and augments one item. JPEGs the TypeScript decoder handles are decoded and
 * augmented synchronously (their decoded form borrows scratch memory, so nothing may run in
 * between); other formats await sharp and then own their pixels.
 */
async function processItem(task: AugmentTask, item: TaskItem, arena: OutputArena, dirs: Map<string, string>): Promise<ViewArray[]> {
  const input = await read(task, item, dirs);
  if (input instanceof PixelImage) return augment(task, item, input, arena);
  const config = { channels: item.decodeChannels ?? 3, maxInputPixels: task.maxInputPixels, exactJpeg: task.exactJpeg };
  let img: SourceImage | undefined;
  try {
    checkImageHeader(input, task.maxInputPixels); // pixel bombs: rejected before decoding
    img = decodeImageSync(input, config);
  } catch (err) {
    throw asItemError(err);
  }
  if (img) return augment(task, item, img, arena);
  try {
    img = await decodeWithSharp(input, config.channels, config.maxInputPixels);
  } catch (err) {
    throw asItemError(err);
  }
  return augment(task, item, img, arena);
}

export default async function augmentChunk(task: AugmentTask): Promise<unknown> {
  if (task.taskId !== undefined) parentPort?.postMessage({ [TASK_STARTED]: task.taskId }); // starts the pool's timeout clock
  let busy = 0;
  const arena = new OutputArena(task.out, bytesPerItem * task.items.length);
  const items: ItemResult[] = [];
  const dirs = new Map<string, string>(); // real paths of folders, for this task only
  for (const item of task.items) {
    const t0 = performance.now();
    // Items run one after another (the arena is not shared with concurrent tasks' items:
    // each task has its own), and each item's outputs are placed before the next starts.
    try {
      const views = await processItem(task, item, arena, dirs);
      const outputs: OutputRef[] = views.map((v) => ({ offset: arena.place(v.data), length: v.data.length, dtype: v.data instanceof Float32Array ? 'f32' : 'u8', shape: v.shape as number[] }));
      items.push({ index: item.index, outputs });
      busy += performance.now() - t0;
    } catch (err) {
      const e = err as Error & { reason?: SampleFailure };
      items.push({ index: item.index, error: { reason: e.reason ?? 'augment', name: e.name, message: e.message } });
    }
  }
  if (task.items.length > 0) bytesPerItem = Math.max(bytesPerItem, Math.ceil(arena.used / task.items.length));
  const buffer = arena.buffer;
  const result: AugmentTaskResult = { buffer, items, busyMs: busy };
  return move({
    get [transferableSymbol]() {
      return [buffer];
    },
    get [valueSymbol]() {
      return result;
    },
  } as never);
}
