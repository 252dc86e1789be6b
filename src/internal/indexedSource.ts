/**
 * Builds a DataSource from a random-access dataset: opens it on the first pull (cold),
 * walks (epoch, index) pairs from the subset / shuffle plan, and closes it when the iterator
 * is returned (unsubscription) or exhausted.
 */
import { DataSource, type PullIterator } from '../sources/DataSource.ts';
import { checkSourceConfig, EpochCursor, resolveSubset, type SourceConfig } from './sourcePlan.ts';

export interface IndexedDataset<T> {
  readonly length: number;
  /** Item `index` for `epoch`; may wait for loading. */
  get(index: number, epoch: number): T | Promise<T>;
  close?(): void;
}

export interface IndexedSourceOptions {
  /**
   * Called when `get` fails: return true to skip the item and go on with the next one (it may
   * throw instead, e.g. TooManyFailuresError, which ends the stream). Default: end the stream.
   */
  skip?: (error: unknown) => boolean;
}

export function indexedSource<T>(
  fn: string,
  config: SourceConfig,
  open: (signal: AbortSignal) => Promise<IndexedDataset<T>>,
  options: IndexedSourceOptions = {},
): DataSource<T> {
  checkSourceConfig(fn, config);
  return new DataSource<T>((): PullIterator<T> => {
    let ds: IndexedDataset<T> | undefined;
    let opening: Promise<IndexedDataset<T>> | undefined;
    let cursor: EpochCursor | undefined;
    let closed = false;
    const abort = new AbortController();
    const close = () => {
      if (closed) return;
      closed = true;
      abort.abort();
      ds?.close?.();
    };
    return {
      async next() {
        if (closed) return { done: true, value: undefined };
        try {
          if (!ds) {
            opening ??= open(abort.signal);
            const opened = await opening;
            if (closed) {
              opened.close?.();
              return { done: true, value: undefined };
            }
            ds = opened;
            cursor = new EpochCursor(resolveSubset(fn, ds.length, config), config);
          }
          for (;;) {
            const at = cursor!.next();
            if (!at) {
              close();
              return { done: true, value: undefined };
            }
            let value: T;
            try {
              value = await ds.get(at.index, at.epoch);
            } catch (err) {
              if (closed) return { done: true, value: undefined };
              if (options.skip?.(err)) continue; // one bad item does not end the stream
              throw err;
            }
            if (closed) return { done: true, value: undefined };
            return { done: false, value };
          }
        } catch (err) {
          if (closed) return { done: true, value: undefined };
          close();
          throw err;
        }
      },
      async return() {
        close();
        if (opening && !ds) void opening.then((d) => d.close?.(), () => undefined);
        return { done: true, value: undefined };
      },
    };
  });
}
