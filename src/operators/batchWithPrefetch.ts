/**
 * batchWithPrefetch: groups samples into NHWC typed-array batches, preparing at most
 * `prefetch` batches ahead of the consumer.
 *
 * Input: augmented samples (one batch view per output of the augmentation) or plain Samples
 * (one uint8 view of the pixels). Output: ArrayBatch leases - `views[k].data` holds N rows of
 * `views[k].shape.slice(1)`, float32 or uint8 as the samples were.
 *
 * Bound (pullable upstream, the data-plane case): the operator pulls from upstream only to
 * fill batches, and at most `prefetch + 1` batches exist at any time (being filled, ready, or
 * held by the consumer - a batch stops counting when it is released). A consumer that retains
 * batches therefore stops the pipeline once the bound is reached. With a plain (push)
 * Observable upstream it simply groups values as they arrive, synchronously.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { BatchShapeError, type ArrayBatch, type AugmentedSample, type Sample, type ViewArray } from '../data.ts';
import { AUTO_RELEASE, DataSource, autoRelease, isPullable, type PullIterator } from '../sources/DataSource.ts';
import { trackInFlight, type FlowStats } from './createFlowStats.ts';

export interface BatchWithPrefetchConfig {
  /** Samples per batch. */
  batchSize: number;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Drop a last, incomplete batch. Default false (emit it with fewer rows). */
  dropLast?: boolean;
  /** Counters; inFlight counts batches alive (filling, ready or held). */
  stats?: FlowStats;
}

export const DEFAULT_BATCH_WITH_PREFETCH_CONFIG = { prefetch: 2, dropLast: false } as const;

type BatchInput = AugmentedSample | Sample;

function viewsOf(item: BatchInput): ViewArray[] {
  if ('views' in item) return item.views;
  return [{ data: item.pixels, shape: [item.height, item.width, item.channels] }];
}

class Batch implements ArrayBatch {
  private refs = 1;
  released = false;
  constructor(
    readonly size: number,
    readonly indices: Int32Array,
    readonly epochs: Int32Array,
    readonly labels: Int32Array | undefined,
    readonly views: ViewArray[],
    private readonly onFinal: () => void,
  ) {}

  retain(): this {
    if (this.released) throw new Error('ArrayBatch.retain: the batch was already released');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs === 0) {
      this.released = true;
      this.onFinal();
    }
  }

  [AUTO_RELEASE](): void {
    this.release();
  }
}

/** Copies `items` into one batch. Throws BatchShapeError when view shapes differ. */
export function assembleBatch(items: readonly BatchInput[], onFinal: () => void = () => undefined): ArrayBatch {
  const n = items.length;
  const first = viewsOf(items[0]);
  const shapes = first.map((v) => v.shape);
  const rowLens = first.map((v) => v.data.length);
  const views: ViewArray[] = first.map((v, k) => ({
    data: v.data instanceof Float32Array ? new Float32Array(n * rowLens[k]) : new Uint8Array(n * rowLens[k]),
    shape: [n, ...shapes[k]],
  }));
  const indices = new Int32Array(n);
  const epochs = new Int32Array(n);
  let labels: Int32Array | undefined;
  items.forEach((item, i) => {
    indices[i] = item.index;
    epochs[i] = item.epoch ?? 0;
    if (item.label !== undefined) {
      labels ??= new Int32Array(n).fill(-1);
      labels[i] = item.label;
    }
    const vs = viewsOf(item);
    if (vs.length !== views.length) throw new BatchShapeError(`batchWithPrefetch: sample ${item.index} has ${vs.length} views, sample ${items[0].index} has ${views.length}`);
    vs.forEach((v, k) => {
      const same = v.data.length === rowLens[k] && v.shape.length === shapes[k].length && v.shape.every((d, j) => d === shapes[k][j]);
      const sameType = v.data instanceof Float32Array === views[k].data instanceof Float32Array;
      if (!same || !sameType) {
        throw new BatchShapeError(
          `batchWithPrefetch: view ${k} of sample ${item.index} is ${v.data instanceof Float32Array ? 'float32' : 'uint8'} [${v.shape}], ` +
            `but sample ${items[0].index} gave ${views[k].data instanceof Float32Array ? 'float32' : 'uint8'} [${shapes[k]}]. ` +
            'Give every view a fixed size (randomResizedCrop / resize) to batch them.',
        );
      }
      (views[k].data as Float32Array | Uint8Array).set(v.data as never, i * rowLens[k]);
    });
  });
  return new Batch(n, indices, epochs, labels, views, onFinal);
}

export function batchWithPrefetch(config: BatchWithPrefetchConfig): OperatorFunction<BatchInput, ArrayBatch> {
  const fn = 'batchWithPrefetch';
  if (!config || !(Number.isInteger(config.batchSize) && config.batchSize >= 1)) {
    throw new ArgumentError(fn, 'config.batchSize', `must be a positive integer, got ${config?.batchSize}`);
  }
  const prefetch = config.prefetch ?? DEFAULT_BATCH_WITH_PREFETCH_CONFIG.prefetch;
  if (!(Number.isInteger(prefetch) && prefetch >= 0)) throw new ArgumentError(fn, 'config.prefetch', `must be a non-negative integer, got ${config.prefetch}`);
  const { batchSize, stats } = config;
  const dropLast = config.dropLast ?? DEFAULT_BATCH_WITH_PREFETCH_CONFIG.dropLast;
  const maxAlive = prefetch + 1;

  return (source: Observable<BatchInput>) => {
    if (!isPullable(source)) {
      // Push mode: group as values arrive (RxJS cannot slow a push source down).
      return new Observable<ArrayBatch>((subscriber) => {
        let buf: BatchInput[] = [];
        const emit = () => {
          const items = buf;
          buf = [];
          trackInFlight(stats, 1);
          const b = assembleBatch(items, () => trackInFlight(stats, -1));
          if (stats) stats.emitted++;
          subscriber.next(b);
          autoRelease(b);
        };
        const sub = source.subscribe({
          next: (v) => {
            if (stats) stats.pulled++;
            buf.push(v);
            if (buf.length === batchSize) {
              try {
                emit();
              } catch (err) {
                subscriber.error(err);
              }
            }
          },
          error: (err) => subscriber.error(err),
          complete: () => {
            try {
              if (buf.length > 0 && !dropLast) emit();
              subscriber.complete();
            } catch (err) {
              subscriber.error(err);
            }
          },
        });
        return () => sub.unsubscribe();
      });
    }
    return new DataSource<ArrayBatch>((): PullIterator<ArrayBatch> => {
      const upstream = source.pull();
      const ready: ArrayBatch[] = [];
      let alive = 0; // batches filling + ready + held downstream
      let filling: Promise<void> | undefined;
      let upstreamDone = false;
      let closed = false;
      let failure: { err: unknown } | undefined;
      let waiter: (() => void) | undefined;
      const wake = () => {
        const w = waiter;
        waiter = undefined;
        w?.();
      };
      const onFinal = () => {
        alive--;
        trackInFlight(stats, -1);
        kick();
        wake();
      };
      const fill = async () => {
        try {
          while (!closed && !upstreamDone && !failure && alive < maxAlive && ready.length < Math.max(prefetch, 1)) {
            alive++;
            trackInFlight(stats, 1);
            const items: BatchInput[] = [];
            while (items.length < batchSize) {
              const r = await upstream.next();
              if (closed) return;
              if (r.done) {
                upstreamDone = true;
                break;
              }
              if (stats) stats.pulled++;
              items.push(r.value);
            }
            if (items.length === 0 || (items.length < batchSize && dropLast)) {
              alive--;
              trackInFlight(stats, -1);
              break;
            }
            let b: ArrayBatch;
            try {
              b = assembleBatch(items, onFinal);
            } catch (err) {
              alive--;
              trackInFlight(stats, -1);
              throw err;
            }
            ready.push(b);
            wake();
          }
        } catch (err) {
          if (!closed) failure ??= { err };
        }
      };
      const kick = () => {
        if (filling || closed || upstreamDone || failure || alive >= maxAlive) return;
        // `fill` may finish synchronously: clear `filling` in a callback (always asynchronous)
        // that checks it is still this run, never inside `fill` itself.
        const run = fill();
        filling = run;
        void run.finally(() => {
          if (filling === run) filling = undefined;
          wake();
        });
      };
      const shutdown = () => {
        if (closed) return;
        closed = true;
        void upstream.return?.(undefined)?.catch(() => undefined);
        // batches never handed out are released here
        for (const b of ready.splice(0)) b.release();
        wake();
      };
      return {
        async next() {
          for (;;) {
            if (closed) return { done: true, value: undefined };
            if (ready.length > 0) {
              const b = ready.shift()!;
              if (stats) stats.emitted++;
              kick();
              return { done: false, value: b };
            }
            if (failure) {
              const err = failure.err;
              shutdown();
              throw err;
            }
            if (upstreamDone && !filling) {
              shutdown();
              return { done: true, value: undefined };
            }
            kick();
            await new Promise<void>((resolve) => {
              waiter = resolve;
              if (ready.length > 0 || failure || closed || (upstreamDone && !filling)) wake();
            });
          }
        },
        async return() {
          shutdown();
          return { done: true, value: undefined };
        },
      };
    });
  };
}
