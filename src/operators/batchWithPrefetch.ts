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
 *
 * Epochs: a batch never straddles an epoch boundary. When a sample of a new epoch arrives, the
 * batch being filled ends there: it is emitted short, or dropped with `dropLast` - so every
 * epoch gives floor(n / batchSize) full batches with dropLast (the same step count each epoch)
 * and no batch holds one sample twice (a shuffled epoch e+1 revisits the samples of epoch e).
 *
 * Samples are copied into the batch as they arrive (no burst at the end). After a batch is
 * released its arrays are reused for a later batch (up to prefetch + 2 sets are kept), so do
 * not keep `views[k].data` past the release - copy it, or `retain()` the batch.
 * (toTensorBatch turns recycling off for the cpu backend, whose tensors alias the arrays.)
 * Once a sample from augmentInPool is copied in, it is marked done (`SAMPLE_DONE`), which lets
 * augmentInPool reuse the memory behind its views: do not keep the samples you feed in.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { BatchShapeError, type ArrayBatch, type AugmentedSample, type Sample, type ViewArray } from '../data.ts';
import { AUTO_RELEASE, DataSource, autoRelease, isPullable, type PullIterator } from '../sources/DataSource.ts';
import { trackInFlight, type FlowStats } from './createFlowStats.ts';
import { SAMPLE_DONE } from './augmentInPool.ts';

export interface BatchWithPrefetchConfig {
  /** Samples per batch. */
  batchSize: number;
  /** Batches prepared ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Drop the last, incomplete batch of every epoch. Default false (emit it with fewer rows). */
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

/** Internal: a batch's arrays may be recycled after release unless this was called. */
export const KEEP_ARRAYS = Symbol.for('contrastream.keepArrays');

class Batch implements ArrayBatch {
  private refs = 1;
  released = false;
  /** Recycling disabled (e.g. tensors on the cpu backend alias the arrays). */
  kept = false;
  constructor(
    readonly size: number,
    readonly indices: Int32Array,
    readonly epochs: Int32Array,
    readonly labels: Int32Array | undefined,
    readonly views: ViewArray[],
    private readonly onFinal: (b: Batch) => void,
    /** The full-size arrays behind `views` (for recycling). */
    readonly storage: (Float32Array | Uint8Array)[],
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
      this.onFinal(this);
    }
  }

  [KEEP_ARRAYS](): void {
    this.kept = true;
  }

  [AUTO_RELEASE](): void {
    this.release();
  }
}

/**
 * Fills one batch sample by sample (so that the copying is spread over the arrivals, not done
 * in one burst). Arrays come from `pool` when a released batch of the same layout left some.
 */
class BatchBuilder {
  private rows = 0;
  private readonly shapes: (readonly number[])[];
  private readonly rowLens: number[];
  private readonly isFloat: boolean[];
  private readonly storage: (Float32Array | Uint8Array)[];
  private readonly indices: Int32Array;
  private readonly epochs: Int32Array;
  private labels: Int32Array | undefined;
  private readonly firstIndex: number;
  /** Epoch of every row (a batch never straddles epochs). */
  readonly epoch: number;

  constructor(
    private readonly capacity: number,
    first: BatchInput,
    pool?: ArrayPool,
  ) {
    const vs = viewsOf(first);
    this.firstIndex = first.index;
    this.epoch = first.epoch ?? 0;
    this.shapes = vs.map((v) => v.shape);
    this.rowLens = vs.map((v) => v.data.length);
    this.isFloat = vs.map((v) => v.data instanceof Float32Array);
    this.storage = pool?.take(this.layout()) ?? vs.map((v, k) => (this.isFloat[k] ? new Float32Array(capacity * this.rowLens[k]) : new Uint8Array(capacity * this.rowLens[k])));
    this.indices = new Int32Array(capacity);
    this.epochs = new Int32Array(capacity);
  }

  layout(): string {
    return `${this.capacity}|${this.rowLens.map((n, k) => (this.isFloat[k] ? 'f' : 'u') + n).join(',')}`;
  }

  add(item: BatchInput): void {
    const i = this.rows;
    const vs = viewsOf(item);
    if (vs.length !== this.storage.length) {
      throw new BatchShapeError(`batchWithPrefetch: sample ${item.index} has ${vs.length} views, sample ${this.firstIndex} has ${this.storage.length}`);
    }
    vs.forEach((v, k) => {
      const shape = this.shapes[k];
      const same = v.data.length === this.rowLens[k] && v.shape.length === shape.length && v.shape.every((d, j) => d === shape[j]);
      if (!same || v.data instanceof Float32Array !== this.isFloat[k]) {
        throw new BatchShapeError(
          `batchWithPrefetch: view ${k} of sample ${item.index} is ${v.data instanceof Float32Array ? 'float32' : 'uint8'} [${v.shape}], ` +
            `but sample ${this.firstIndex} gave ${this.isFloat[k] ? 'float32' : 'uint8'} [${shape}]. ` +
            'Give every view a fixed size (randomResizedCrop / resize) to batch them.',
        );
      }
      (this.storage[k] as Float32Array | Uint8Array).set(v.data as never, i * this.rowLens[k]);
    });
    this.indices[i] = item.index;
    this.epochs[i] = item.epoch ?? 0;
    if (item.label !== undefined) {
      this.labels ??= new Int32Array(this.capacity).fill(-1);
      this.labels[i] = item.label;
    }
    this.rows++;
  }

  get size(): number {
    return this.rows;
  }

  finish(onFinal: (b: Batch) => void): Batch {
    const n = this.rows;
    const views = this.storage.map((arr, k) => ({
      data: n === this.capacity ? arr : arr.subarray(0, n * this.rowLens[k]),
      shape: [n, ...this.shapes[k]],
    }));
    const cut = (a: Int32Array) => (n === this.capacity ? a : a.slice(0, n));
    return new Batch(n, cut(this.indices), cut(this.epochs), this.labels && cut(this.labels), views, onFinal, this.storage);
  }
}

/** Released batch arrays, by layout, for reuse (bounded). */
class ArrayPool {
  private readonly free = new Map<string, (Float32Array | Uint8Array)[][]>();
  constructor(private readonly max: number) {}
  take(layout: string): (Float32Array | Uint8Array)[] | undefined {
    return this.free.get(layout)?.pop();
  }
  give(layout: string, arrays: (Float32Array | Uint8Array)[]): void {
    let list = this.free.get(layout);
    if (!list) {
      list = [];
      this.free.set(layout, list);
    }
    if (list.length < this.max) list.push(arrays);
  }
}

/** Tells augmentInPool that a sample's views were copied (their buffer may be reused). */
function sampleDone(item: BatchInput): void {
  (item as { [SAMPLE_DONE]?: () => void })[SAMPLE_DONE]?.();
}

/** Copies `items` into one batch. Throws BatchShapeError when view shapes differ. */
export function assembleBatch(items: readonly BatchInput[], onFinal: () => void = () => undefined): ArrayBatch {
  const b = new BatchBuilder(items.length, items[0]);
  for (const item of items) b.add(item);
  return b.finish(onFinal);
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
          for (const item of items) sampleDone(item);
          if (stats) stats.emitted++;
          subscriber.next(b);
          autoRelease(b);
        };
        const sub = source.subscribe({
          next: (v) => {
            if (stats) stats.pulled++;
            try {
              // a new epoch ends the batch being filled (emitted short, or dropped with dropLast)
              if (buf.length > 0 && (buf[0].epoch ?? 0) !== (v.epoch ?? 0)) {
                if (dropLast) buf = [];
                else emit();
              }
              buf.push(v);
              if (buf.length === batchSize) emit();
            } catch (err) {
              subscriber.error(err);
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
      // first sample of the next epoch, pulled while the previous epoch's batch was filling
      let carry: { value: BatchInput } | undefined;
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
      const onFinal = (): void => {
        alive--;
        trackInFlight(stats, -1);
        kick();
        wake();
      };
      const recycled = new ArrayPool(maxAlive + 1);
      const fill = async () => {
        try {
          while (!closed && !upstreamDone && !failure && alive < maxAlive && ready.length < Math.max(prefetch, 1)) {
            alive++;
            trackInFlight(stats, 1);
            let builder: BatchBuilder | undefined;
            try {
              while (!builder || builder.size < batchSize) {
                let value: BatchInput;
                if (carry) {
                  value = carry.value;
                  carry = undefined;
                } else {
                  const r = await upstream.next();
                  if (closed) return;
                  if (r.done) {
                    upstreamDone = true;
                    break;
                  }
                  if (stats) stats.pulled++;
                  value = r.value;
                }
                if (builder && (value.epoch ?? 0) !== builder.epoch) {
                  carry = { value }; // starts the next batch
                  break;
                }
                builder ??= new BatchBuilder(batchSize, value, recycled);
                builder.add(value);
                sampleDone(value);
              }
            } catch (err) {
              alive--;
              trackInFlight(stats, -1);
              throw err;
            }
            if (!builder || (builder.size < batchSize && dropLast)) {
              alive--;
              trackInFlight(stats, -1);
              if (upstreamDone) break;
              continue; // an epoch's short tail was dropped: fill the next epoch's batch
            }
            const layout = builder.layout();
            ready.push(
              builder.finish((b) => {
                if (!b.kept) recycled.give(layout, b.storage);
                onFinal();
              }),
            );
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
