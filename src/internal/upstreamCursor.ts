/**
 * The upstream side of a pull-driven operator that consumes items one at a time and emits
 * something else (temporalPositives, frameSequences): pulls lazily from `source`, remembers
 * when the stream is finished, and makes every failure end it.
 *
 * - `pull()` gives the next upstream item, or `undefined` once upstream has ended (or the
 *   cursor was closed). An upstream error marks the cursor done and is rethrown.
 * - `feed(fn)` runs the operator's own handling of an item; if it throws, the cursor is done,
 *   upstream is told to stop (not awaited: the error goes to the consumer first) and the
 *   error is rethrown.
 * - `close()` (the consumer's `return()`): done, and upstream stopped.
 */
import type { Observable } from 'rxjs';
import { pullFrom, type PullIterator } from '../sources/DataSource.ts';

export class UpstreamCursor<T> {
  /** True once upstream has ended, failed, or the cursor was closed; `pull()` then gives undefined. */
  done = false;
  private upstream: PullIterator<T> | undefined;

  constructor(private readonly source: Observable<T>) {}

  async pull(): Promise<{ value: T } | undefined> {
    if (this.done) return undefined;
    this.upstream ??= pullFrom(this.source);
    let r: IteratorResult<T, undefined>;
    try {
      r = await this.upstream.next();
    } catch (err) {
      this.done = true;
      throw err;
    }
    if (r.done) {
      this.done = true;
      return undefined;
    }
    return { value: r.value };
  }

  feed<R>(fn: () => R): R {
    try {
      return fn();
    } catch (err) {
      this.done = true;
      void this.upstream?.return?.(undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.done = true;
    await this.upstream?.return?.(undefined);
  }
}
