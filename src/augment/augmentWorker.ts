/**
 * Piscina worker of augmentInPool: decodes each image of a chunk once and applies every view
 * of the spec to it. Loaded through augmentWorker.mjs (which makes .ts importable in the
 * worker thread).
 */
import { readFile, realpath } from 'node:fs/promises';
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
 * Reads an item's bytes (files) or wraps its pixels (in-memory samples). The real path is
 * re-checked against the dataset root (a link may have been swapped since the listing), and
 * transient errors (EMFILE, EAGAIN, ...) are retried a bounded number of times.
 */
async function read(task: AugmentTask, item: TaskItem): Promise<Uint8Array | PixelImage> {
  if (item.invalid !== undefined) throw new ItemError('decode', item.invalid);
  if (item.path === undefined) {
    const { offset = 0, width = 0, height = 0, channels = 0 } = item;
    return new PixelImage(new Uint8Array(task.pixels!, offset, width * height * channels), width, height, channels);
  }
  const path = item.path;
  try {
    const real = await retryTransient(() => realpath(path));
    if (item.root !== undefined && !isInside(item.root, real)) {
      throw new ItemError('read', `resolves to '${real}', outside the dataset root '${item.root}'`);
    }
    return await retryTransient(() => readFile(real));
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

function augment(task: AugmentTask, item: TaskItem, img: SourceImage): ViewArray[] {
  try {
    return applyAugment(img, task.spec, { seed: task.seed, epoch: item.epoch, index: item.index });
  } catch (err) {
    throw new ItemError('augment', (err as Error).message);
  }
}

/**
 * Decodes and augments one item. JPEGs the TypeScript decoder handles are decoded and
 * augmented synchronously (their decoded form borrows scratch memory, so nothing may run in
 * between); other formats await sharp and then own their pixels.
 */
async function processItem(task: AugmentTask, item: TaskItem): Promise<ViewArray[]> {
  const input = await read(task, item);
  if (input instanceof PixelImage) return augment(task, item, input);
  const config = { channels: item.decodeChannels ?? 3, maxInputPixels: task.maxInputPixels, exactJpeg: task.exactJpeg };
  let img: SourceImage | undefined;
  try {
    checkImageHeader(input, task.maxInputPixels); // pixel bombs: rejected before decoding
    img = decodeImageSync(input, config);
  } catch (err) {
    throw asItemError(err);
  }
  if (img) return augment(task, item, img);
  try {
    img = await decodeWithSharp(input, config.channels, config.maxInputPixels);
  } catch (err) {
    throw asItemError(err);
  }
  return augment(task, item, img);
}

export default async function augmentChunk(task: AugmentTask): Promise<unknown> {
  if (task.taskId !== undefined) parentPort?.postMessage({ [TASK_STARTED]: task.taskId }); // starts the pool's timeout clock
  let busy = 0;
  const perItem: (ViewArray[] | ItemResult)[] = [];
  for (const item of task.items) {
    const t0 = performance.now();
    try {
      perItem.push(await processItem(task, item));
      busy += performance.now() - t0;
    } catch (err) {
      const e = err as Error & { reason?: SampleFailure };
      perItem.push({ index: item.index, error: { reason: e.reason ?? 'augment', name: e.name, message: e.message } });
    }
  }
  // Pack every output into one buffer (4-byte aligned so float32 views are valid).
  let total = 0;
  for (const r of perItem) {
    if (!Array.isArray(r)) continue;
    for (const v of r) total = ((total + 3) & ~3) + v.data.byteLength;
  }
  const buffer = new ArrayBuffer(total);
  const bytes = new Uint8Array(buffer);
  const items: ItemResult[] = [];
  let off = 0;
  task.items.forEach((item, k) => {
    const r = perItem[k];
    if (!Array.isArray(r)) {
      items.push(r);
      return;
    }
    const outputs: OutputRef[] = [];
    for (const v of r) {
      off = (off + 3) & ~3;
      bytes.set(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength), off);
      outputs.push({ offset: off, length: v.data.length, dtype: v.data instanceof Float32Array ? 'f32' : 'u8', shape: [...v.shape] });
      off += v.data.byteLength;
    }
    items.push({ index: item.index, outputs });
  });
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
