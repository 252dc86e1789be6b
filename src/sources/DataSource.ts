/**
 * DataSource: a cold RxJS Observable that can also be *pulled*.
 *
 * RxJS has no backpressure: an Observable pushes as fast as it can, and operators such as
 * `mergeMap(f, n)` buffer what they cannot process yet, without limit. The data plane
 * therefore runs on demand: every source and data-plane operator returns a DataSource, whose
 * `pull()` opens an async iterator that produces an item only when asked. Data-plane operators
 * (`augmentInPool`, `batchWithPrefetch`, `toTensorBatch`, `pullMap`) pull from their upstream,
 * so the whole chain holds at most what each stage's configured depth allows, however slow
 * the consumer is.
 *
 * A DataSource is still a normal Observable:
 * - `subscribe()` pulls in a loop and pushes each item (cold: nothing is read before
 *   subscription; unsubscribing stops the loop and closes the iterator, which stops reading).
 * - `for await (const x of source)` pulls one item per iteration.
 * - Plain RxJS operators work, but they pull as fast as they are pushed to; put them before
 *   the data-plane operators, or use `pullMap` for asynchronous per-item work downstream.
 *
 * Items that are Leases (batches) are released by the stream when the consumer is done: after
 * a synchronous `next` handler returns, or when a `for await` loop asks for the next item.
 * Call `item.retain()` to keep one longer, then `item.release()`.
 */
import { Observable, type Observer, type Subscription } from 'rxjs';

/** Internal protocol: the iterator gives ownership of each item to the caller. */
export type PullIterator<T> = AsyncIterator<T, undefined>;

const AUTO_RELEASE = Symbol.for('contrastream.autoRelease');

/** Items with this method are released by the stream once the consumer is done with them. */
export interface AutoReleasable {
  [AUTO_RELEASE](): void;
}

export function autoRelease(item: unknown): void {
  if (item !== null && typeof item === 'object' && AUTO_RELEASE in item) (item as AutoReleasable)[AUTO_RELEASE]();
}

export { AUTO_RELEASE };

/**
 * A pause point for push loops. A DataSource subscribed inside `subscribeGated` awaits
 * `wait()` (when it returns a promise) before pulling each next item, so the consumer can run
 * asynchronous work between two items - a checkpoint between two training steps - without the
 * chain pushing the next item meanwhile. Prefetching upstream (pull-driven) goes on.
 */
export interface PushGate {
  wait(): Promise<void> | undefined;
  /** Called once per push loop that took the gate (lets the owner check it is in effect). */
  attached?(): void;
}

let subscribingGate: PushGate | undefined;

/**
 * `source.subscribe(observer)`, with every DataSource push loop subscribed synchronously in
 * the process (the whole chain of a `pipe()`) taking `gate`.
 */
export function subscribeGated<T>(source: Observable<T>, gate: PushGate, observer: Partial<Observer<T>>): Subscription {
  const previous = subscribingGate;
  subscribingGate = gate;
  try {
    return source.subscribe(observer);
  } finally {
    subscribingGate = previous;
  }
}

export class DataSource<T> extends Observable<T> implements AsyncIterable<T> {
  private readonly open: () => PullIterator<T>;

  /** @param open makes a fresh pull iterator; called once per subscription / iteration. */
  constructor(open: () => PullIterator<T>) {
    super((subscriber) => {
      const gate = subscribingGate;
      gate?.attached?.();
      let it: PullIterator<T>;
      try {
        it = open();
      } catch (err) {
        subscriber.error(err);
        return;
      }
      let stopped = false;
      void (async () => {
        try {
          for (;;) {
            const paused = gate?.wait();
            if (paused !== undefined) {
              await paused;
              if (stopped) return;
            }
            const r = await it.next();
            if (stopped) {
              if (!r.done) autoRelease(r.value);
              return;
            }
            if (r.done) {
              subscriber.complete();
              return;
            }
            subscriber.next(r.value);
            autoRelease(r.value);
          }
        } catch (err) {
          if (!stopped) subscriber.error(err);
        }
      })();
      return () => {
        stopped = true;
        void Promise.resolve(it.return?.(undefined)).catch(() => undefined);
      };
    });
    this.open = open;
  }

  /** Opens the raw pull iterator: items are owned by the caller (who must release leases). */
  pull(): PullIterator<T> {
    return this.open();
  }

  /** Pulls one item per iteration; a lease is released when the next one is requested. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    const it = this.open();
    let last: T | undefined;
    let hasLast = false;
    const drop = () => {
      if (hasLast) {
        hasLast = false;
        autoRelease(last);
        last = undefined;
      }
    };
    return {
      async next() {
        drop();
        const r = await it.next();
        if (!r.done) {
          last = r.value;
          hasLast = true;
        }
        return r;
      },
      async return() {
        drop();
        await it.return?.(undefined);
        return { done: true, value: undefined };
      },
      async throw(err?: unknown) {
        drop();
        await it.return?.(undefined);
        throw err;
      },
    };
  }
}

/**
 * Iterate the values of any Observable with `for await`, pulling one at a time. RxJS's
 * `pipe()` types its result as a plain Observable, so use this to iterate a data-plane chain:
 *
 *   for await (const batch of pullValues(source.pipe(augmentInPool(...), batchWithPrefetch(...)))) { ... }
 *
 * Leases (batches) are released when the loop asks for the next value. A plain Observable is
 * subscribed and buffered (see pullFrom).
 */
export function pullValues<T>(source: Observable<T>): AsyncIterable<T> {
  if (isPullable(source)) return source;
  return new DataSource<T>(() => pullFrom(source));
}

/** True for Observables that support pulling. */
export function isPullable<T>(source: Observable<T>): source is DataSource<T> {
  return source instanceof DataSource;
}

/**
 * A pull iterator over any Observable. For a DataSource this is its own pull iterator; for a
 * plain Observable it subscribes on the first pull and buffers pushed values until pulled
 * (RxJS cannot slow a push source down, so that buffer is bounded only by the source).
 * `onBuffered` reports the buffer length after every push (for stats).
 */
export function pullFrom<T>(source: Observable<T>, onBuffered?: (n: number) => void): PullIterator<T> {
  if (isPullable(source)) return source.pull();
  const buffer: T[] = [];
  let done = false;
  let failure: { err: unknown } | undefined;
  let waiter: (() => void) | undefined;
  let sub: { unsubscribe(): void } | undefined;
  let started = false;
  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  return {
    async next() {
      if (!started) {
        started = true;
        sub = source.subscribe({
          next: (v) => {
            buffer.push(v);
            onBuffered?.(buffer.length);
            wake();
          },
          error: (err) => {
            failure = { err };
            wake();
          },
          complete: () => {
            done = true;
            wake();
          },
        });
      }
      for (;;) {
        if (buffer.length > 0) return { done: false, value: buffer.shift() as T };
        if (failure) throw failure.err;
        if (done) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (waiter = resolve));
      }
    },
    async return() {
      done = true;
      sub?.unsubscribe();
      buffer.length = 0;
      wake();
      return { done: true, value: undefined };
    },
  };
}
