/**
 * augmentInPool: decodes and augments samples in a pool of worker threads.
 *
 * Each source image is decoded once (in the worker; see decodeImage) and every view of the
 * spec is made from those decoded pixels. Samples travel in chunks (one Piscina task per
 * chunk, not per image); in-memory pixels go in one transferred buffer per chunk and all
 * outputs of a chunk come back in one transferred buffer. Outputs keep the input order.
 *
 * Flow control: the operator pulls from its upstream (see DataSource) and keeps at most
 * `maxInFlight` samples between upstream and downstream (queued, in a worker, or finished
 * and waiting to be pulled), whatever the consumer's speed.
 *
 * Determinism: view v of sample i in epoch e uses Rng(seed, e, i, v) only, so outputs are
 * bit-identical for any pool size, chunk size or timing.
 *
 * Bad input (timm's policy): by default (`onError: 'skip'`) a sample that cannot be read,
 * decoded or augmented - a truncated or empty file, a pixel bomb rejected from its header, a
 * path that escapes the dataset root - is dropped: `onSkip` receives a SampleError naming its
 * index, epoch and path, a log line says the same, and `stats.skipped` counts it. After
 * `maxConsecutiveFailures` failures in a row (default 50) the stream ends with
 * TooManyFailuresError: a broken dataset stops the run instead of being skipped through.
 * With `onError: 'error'` the first failure ends the stream with its SampleError.
 *
 * Memory: a chunk's outputs arrive in one buffer, and every emitted sample's views point into
 * it. A consumer that copies the views and is done with the sample calls
 * `sample[SAMPLE_DONE]()` (batchWithPrefetch does, right after copying a sample into its
 * batch); once every sample of a chunk was marked done, the buffer goes back to a worker for a
 * later chunk instead of being garbage (no allocation per chunk on either side; transferred
 * buffers otherwise drive frequent full GCs). After SAMPLE_DONE the sample's views are invalid
 * (their buffer is detached). Consumers that never call it just let buffers be collected.
 *
 * Worker faults: when a worker dies on a chunk (exit, out of memory, per-task timeout), the
 * chunk is retried one sample per task, and a sample whose task fails `taskRetries + 1` times
 * fails with SampleError reason 'worker' (skipped or not, as above); other samples are not
 * lost. A pool whose workers cannot start ends the stream with WorkerError 'init'.
 */
import { availableParallelism } from 'node:os';
import type { Observable, OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { isImageFile, SampleError, TooManyFailuresError, WorkerError, type AugmentedSample, type SourceItem } from '../data.ts';
import { DataSource, pullFrom, type PullIterator } from '../sources/DataSource.ts';
import { validateAugmentSpec, type AugmentSpec } from '../augment/spec.ts';
import { AugmentPool } from '../augment/createAugmentPool.ts';
import type { AugmentTask, AugmentTaskResult, TaskItem } from '../augment/workerProtocol.ts';
import { DEFAULT_DECODE_CONFIG } from '../augment/decodeImage.ts';
import { trackInFlight, type FlowStats } from './createFlowStats.ts';

export interface AugmentInPoolConfig {
  /** Views to make (a preset such as `simclr()`, or built with the functions of augment/spec). */
  augment: AugmentSpec;
  /** Seed of the augmentation randomness. Default 0. */
  seed?: number;
  /** Worker threads when the operator makes its own pool. Default: number of cores. */
  poolSize?: number;
  /** A shared pool (not destroyed by the operator). Default: a pool per subscription. */
  pool?: AugmentPool;
  /** Samples per task, or 'auto' (aims at ~15 ms of work per task). Default 'auto'. */
  chunkSize?: number | 'auto';
  /** Most samples held between upstream and downstream. Default poolSize * 32. */
  maxInFlight?: number;
  /** Images with more pixels are rejected from their header. Default 40 megapixels. */
  maxInputPixels?: number;
  /** Rebuild each JPEG fully (libjpeg-exact) before cropping. Default false (see sourceImage.ts). */
  exactJpeg?: boolean;
  /** 'skip' (default) drops a failing sample (see maxConsecutiveFailures); 'error' ends the stream with its SampleError. */
  onError?: 'error' | 'skip';
  /** Called for every skipped sample (with onError: 'skip'), in stream order. */
  onSkip?: (error: SampleError) => void;
  /** With onError 'skip': this many failures in a row end the stream with TooManyFailuresError. Default 50. */
  maxConsecutiveFailures?: number;
  /** Extra attempts of a single-sample task whose worker died (exit, OOM, timeout). Default 1. */
  taskRetries?: number;
  /** Where skip lines go (`null` = nowhere). Default console.warn. */
  log?: ((line: string) => void) | null;
  /** Counters (in flight = samples held by this stage). */
  stats?: FlowStats;
}

export const DEFAULT_AUGMENT_IN_POOL_CONFIG = {
  seed: 0,
  chunkSize: 'auto',
  maxInFlightPerWorker: 32,
  maxInputPixels: DEFAULT_DECODE_CONFIG.maxInputPixels,
  exactJpeg: false,
  onError: 'skip',
  maxConsecutiveFailures: 50,
  taskRetries: 1,
} as const;

const TARGET_TASK_MS = 15;

/**
 * Key of the function an AugmentedSample from augmentInPool carries: call it once when done
 * with the sample's views (they become invalid), so that their buffer is reused (see the file
 * comment). Optional for consumers; batchWithPrefetch calls it.
 */
export const SAMPLE_DONE: unique symbol = Symbol.for('contrastream.sampleDone') as never;

/** Result buffers kept for reuse, per operator subscription. */
const MAX_FREE_BUFFERS = 16;

interface Chunk {
  items: SourceItem[];
  done: boolean;
  result?: AugmentTaskResult;
  error?: unknown;
  settled: Promise<void>;
  /** Times these items were sent to a worker. */
  attempts: number;
  /** False for a retry waiting to reach the head of the queue (retries run one at a time). */
  started: boolean;
  retry: boolean;
}

export function augmentInPool(config: AugmentInPoolConfig): OperatorFunction<SourceItem, AugmentedSample> {
  const fn = 'augmentInPool';
  if (!config || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object with at least { augment }');
  validateAugmentSpec(config.augment);
  const poolSize = config.pool?.size ?? config.poolSize ?? availableParallelism();
  if (!(Number.isInteger(poolSize) && poolSize >= 1)) throw new ArgumentError(fn, 'config.poolSize', `must be a positive integer, got ${config.poolSize}`);
  const maxInFlight = config.maxInFlight ?? poolSize * DEFAULT_AUGMENT_IN_POOL_CONFIG.maxInFlightPerWorker;
  if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) throw new ArgumentError(fn, 'config.maxInFlight', `must be a positive integer, got ${config.maxInFlight}`);
  const chunkCfg = config.chunkSize ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.chunkSize;
  if (chunkCfg !== 'auto' && !(Number.isInteger(chunkCfg) && chunkCfg >= 1)) throw new ArgumentError(fn, 'config.chunkSize', `must be a positive integer or 'auto', got ${chunkCfg}`);
  const onError = config.onError ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.onError;
  if (onError !== 'error' && onError !== 'skip') throw new ArgumentError(fn, 'config.onError', `must be 'error' or 'skip', got ${onError}`);
  const seed = config.seed ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.seed;
  if (!Number.isFinite(seed)) throw new ArgumentError(fn, 'config.seed', `must be a finite number, got ${seed}`);
  const maxInputPixels = config.maxInputPixels ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.maxInputPixels;
  const exactJpeg = config.exactJpeg ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.exactJpeg;
  const maxFailures = config.maxConsecutiveFailures ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.maxConsecutiveFailures;
  if (!(Number.isInteger(maxFailures) && maxFailures >= 1)) throw new ArgumentError(fn, 'config.maxConsecutiveFailures', `must be a positive integer, got ${config.maxConsecutiveFailures}`);
  const taskRetries = config.taskRetries ?? DEFAULT_AUGMENT_IN_POOL_CONFIG.taskRetries;
  if (!(Number.isInteger(taskRetries) && taskRetries >= 0)) throw new ArgumentError(fn, 'config.taskRetries', `must be a non-negative integer, got ${config.taskRetries}`);
  if (config.onSkip !== undefined && typeof config.onSkip !== 'function') throw new ArgumentError(fn, 'config.onSkip', 'must be a function (error: SampleError) => void');
  const log = config.log === undefined ? (line: string) => console.warn(line) : config.log;
  const stats = config.stats;
  // A chunk never exceeds half the window per worker, so that every worker can hold work
  // while finished chunks wait to be pulled.
  const maxChunk = Math.max(1, Math.floor(maxInFlight / (2 * poolSize)));

  return (source: Observable<SourceItem>) =>
    new DataSource<AugmentedSample>((): PullIterator<AugmentedSample> => {
      let upstream: PullIterator<SourceItem> | undefined;
      let pool: AugmentPool | undefined;
      const ownPool = !config.pool;
      const queue: Chunk[] = [];
      let ready: AugmentedSample[] = [];
      let held = 0; // samples between upstream and downstream
      let upstreamDone = false;
      let closed = false;
      let failure: { err: unknown } | undefined;
      let pumping: Promise<void> | undefined;
      let waiter: (() => void) | undefined;
      let chunkSize = chunkCfg === 'auto' ? Math.min(4, maxChunk) : Math.min(chunkCfg, maxInFlight);
      let msPerImage = -1;
      let running = 0; // chunks in a worker
      let retrying = 0; // retry chunks not settled yet (new work waits for them)
      let consecutive = 0; // failures in a row, in stream order
      const recent: SampleError[] = [];
      const free: ArrayBuffer[] = []; // result buffers whose samples are all done

      const wake = () => {
        const w = waiter;
        waiter = undefined;
        w?.();
      };

      const shutdown = () => {
        if (closed) return;
        closed = true;
        void upstream?.return?.(undefined)?.catch(() => undefined);
        if (ownPool && pool) void pool.destroy();
        ready = [];
        free.length = 0;
        trackInFlight(stats, -held);
        held = 0;
        wake();
      };

      const dispatch = (items: SourceItem[], attempts = 0, start = true): Chunk => {
        const chunk: Chunk = { items, done: false, settled: Promise.resolve(), attempts, started: false, retry: !start };
        if (!start) retrying++;
        if (start) run(chunk);
        return chunk;
      };

      const run = (chunk: Chunk): void => {
        const items = chunk.items;
        chunk.started = true;
        chunk.attempts++;
        running++;
        const taskItems: TaskItem[] = [];
        let bytes = 0;
        const bad = (it: SourceItem) => !isImageFile(it) && !(it.pixels instanceof Uint8Array && it.pixels.length === it.width * it.height * it.channels && it.width > 0 && it.height > 0 && it.channels > 0);
        for (const it of items) if (!isImageFile(it) && !bad(it)) bytes += it.pixels.length;
        const packed = bytes > 0 ? new ArrayBuffer(bytes) : undefined;
        const view = packed ? new Uint8Array(packed) : undefined;
        let off = 0;
        for (const it of items) {
          if (isImageFile(it)) {
            taskItems.push({ index: it.index, epoch: it.epoch ?? 0, path: it.path, root: it.root, decodeChannels: it.channels ?? 3 });
          } else if (bad(it)) {
            // a malformed sample fails alone (skipped or reported), it does not end the stream
            const len = (it.pixels as Uint8Array | undefined)?.length;
            taskItems.push({ index: it.index, epoch: it.epoch ?? 0, invalid: `pixels hold ${len ?? 'no'} bytes for ${it.height}x${it.width}x${it.channels} (expected a Uint8Array of height * width * channels bytes)` });
          } else {
            view!.set(it.pixels, off);
            taskItems.push({ index: it.index, epoch: it.epoch ?? 0, offset: off, width: it.width, height: it.height, channels: it.channels });
            off += it.pixels.length;
          }
        }
        const out = free.pop(); // a result buffer the consumer is done with
        const task: AugmentTask = { spec: config.augment, seed, maxInputPixels, exactJpeg, items: taskItems, pixels: packed, out };
        const transfer = packed ? [packed] : [];
        if (out) transfer.push(out);
        chunk.settled = pool!.run(task, transfer).then(
          (r) => {
            chunk.result = r;
            chunk.done = true;
            running--;
            if (chunk.retry) retrying--;
            if (stats) stats.workerMs += r.busyMs;
            if (chunkCfg === 'auto' && r.items.length > 0) {
              const per = r.busyMs / r.items.length;
              msPerImage = msPerImage < 0 ? per : 0.7 * msPerImage + 0.3 * per;
              chunkSize = Math.max(1, Math.min(maxChunk, Math.round(TARGET_TASK_MS / Math.max(msPerImage, 0.01))));
            }
            wake();
          },
          (err) => {
            chunk.error = err;
            chunk.done = true;
            running--;
            if (chunk.retry) retrying--;
            wake();
          },
        );
      };

      const pump = async () => {
        try {
          while (!closed && !upstreamDone && !failure && retrying === 0) {
            const room = maxInFlight - held;
            const want = Math.min(chunkSize, room);
            if (want <= 0) break;
            const items: SourceItem[] = [];
            while (items.length < want) {
              const r = await upstream!.next();
              if (closed) return;
              if (r.done) {
                upstreamDone = true;
                break;
              }
              items.push(r.value);
              held++;
              trackInFlight(stats, 1);
              if (stats) stats.pulled++;
            }
            if (items.length > 0) queue.push(dispatch(items));
            wake();
          }
        } catch (err) {
          if (!closed) failure ??= { err };
        }
      };

      const kick = () => {
        if (pumping || closed || upstreamDone || failure || held >= maxInFlight || retrying > 0) return;
        // `pump` may finish synchronously: clear `pumping` in an (always asynchronous)
        // callback that checks it is still this run.
        const run = pump();
        pumping = run;
        void run.finally(() => {
          if (pumping === run) pumping = undefined;
          wake();
        });
      };

      /** A failed sample: skipped (counted against the cap) or thrown. */
      const failed = (err: SampleError, raw: string): void => {
        if (onError === 'error') throw err;
        consecutive++;
        recent.push(err);
        if (recent.length > 5) recent.shift();
        if (stats) stats.skipped++;
        held--;
        trackInFlight(stats, -1);
        log?.(`${fn}: skipped sample ${err.index}${err.path !== undefined ? ` '${err.path}'` : ''} (epoch ${err.epoch}): ${err.reason} failed: ${raw} [${consecutive} in a row, cap ${maxFailures}]`);
        config.onSkip?.(err);
        if (consecutive >= maxFailures) throw new TooManyFailuresError(fn, consecutive, [...recent]);
      };

      /**
       * A chunk whose task failed (worker exit, OOM, timeout): retried one sample per task, so
       * that one bad image costs only itself. Returns false when the failure is final.
       */
      const retry = (chunk: Chunk): boolean => {
        const err = chunk.error;
        if (!(err instanceof WorkerError) || err.kind === 'init' || err.kind === 'destroyed' || err.kind === 'aborted') return false;
        if (chunk.items.length === 1 && chunk.attempts > taskRetries) return false;
        // Retries are queued unstarted and run one at a time at the head of the queue, with
        // nothing else in the pool, so a sample that kills (or hangs) its worker cannot take
        // the other retried samples down with it.
        const again = chunk.items.length === 1 ? [dispatch(chunk.items, chunk.attempts, false)] : chunk.items.map((it) => dispatch([it], 0, false));
        queue.splice(0, 1, ...again);
        return true;
      };

      const unpack = (chunk: Chunk): AugmentedSample[] => {
        if (chunk.error !== undefined) {
          const e = chunk.error;
          // the pool cannot run anything: end the stream with its error
          if (e instanceof WorkerError && (e.kind === 'init' || e.kind === 'destroyed' || e.kind === 'aborted')) throw e;
          const msg = `worker task failed${chunk.attempts > 1 ? ` ${chunk.attempts} times` : ''}: ${(e as Error)?.message ?? String(e)}`;
          for (const it of chunk.items) {
            failed(new SampleError({ index: it.index, epoch: it.epoch, path: (it as { path?: string }).path, reason: 'worker', message: msg }, { cause: e }), msg);
          }
          return [];
        }
        const { buffer, items } = chunk.result!;
        chunk.result = undefined;
        const out: AugmentedSample[] = [];
        // The buffer is reused once every emitted sample of the chunk is done (SAMPLE_DONE).
        let live = 0;
        const done = () => {
          if (--live === 0 && !closed && free.length < MAX_FREE_BUFFERS) free.push(buffer);
        };
        items.forEach((r, k) => {
          const src = chunk.items[k];
          const path = isImageFile(src) ? src.path : src.path;
          if ('error' in r) {
            failed(new SampleError({ index: src.index, epoch: src.epoch, path, reason: r.error.reason, message: r.error.message }), r.error.message);
            return;
          }
          consecutive = 0;
          const s: AugmentedSample = {
            index: src.index,
            epoch: src.epoch ?? 0,
            views: r.outputs.map((o) => ({
              data: o.dtype === 'f32' ? new Float32Array(buffer, o.offset, o.length) : new Uint8Array(buffer, o.offset, o.length),
              shape: o.shape,
            })),
          };
          if (src.label !== undefined) s.label = src.label;
          if (path !== undefined) s.path = path;
          Object.defineProperty(s, SAMPLE_DONE, { value: done }); // not enumerable: not copied by spreads
          live++;
          out.push(s);
        });
        return out;
      };

      return {
        async next() {
          if (!upstream) {
            upstream = pullFrom(source, stats ? (n) => (stats.peakUpstreamBuffered = Math.max(stats.peakUpstreamBuffered, n)) : undefined);
            pool = config.pool ?? new AugmentPool({ size: poolSize });
          }
          for (;;) {
            if (closed) return { done: true, value: undefined };
            if (ready.length > 0) {
              const value = ready.shift()!;
              held--;
              trackInFlight(stats, -1);
              if (stats) stats.emitted++;
              kick();
              return { done: false, value };
            }
            if (failure) {
              const err = failure.err;
              shutdown();
              throw err;
            }
            // a retry runs alone: after the chunks in flight settle, with no new work beside it
            if (queue.length > 0 && !queue[0].started && running === 0) {
              try {
                run(queue[0]);
              } catch (err) {
                shutdown();
                throw err;
              }
            }
            if (queue.length > 0 && queue[0].done) {
              if (queue[0].error !== undefined && !closed) {
                let retried: boolean;
                try {
                  retried = retry(queue[0]);
                } catch (err) {
                  shutdown();
                  throw err;
                }
                if (retried) continue;
              }
              const chunk = queue.shift()!;
              try {
                ready = unpack(chunk);
              } catch (err) {
                shutdown();
                throw err;
              }
              continue;
            }
            if (queue.length === 0 && upstreamDone && !pumping) {
              shutdown();
              return { done: true, value: undefined };
            }
            kick();
            await new Promise<void>((resolve) => {
              waiter = resolve;
              // re-check conditions that may have changed before the waiter was set
              if ((queue.length > 0 && (queue[0].done || (!queue[0].started && running === 0))) || failure || closed || (queue.length === 0 && upstreamDone && !pumping)) wake();
            });
          }
        },
        async return() {
          shutdown();
          return { done: true, value: undefined };
        },
      };
    });
}
