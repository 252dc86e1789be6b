/**
 * pullMap: asynchronous per-item work (a training step, say) that pulls its input on demand.
 *
 * Like `concatMap(async x => ...)`, but it asks its upstream for the next item only when fewer
 * than `concurrency` projects are running, so a slow step slows the whole data plane down
 * instead of letting items pile up. Items that are leases (batches) are retained while their
 * project runs and released when it settles. Results keep the input order.
 *
 *   batches$.pipe(toTensorBatch(), pullMap(async (b) => trainStep(b.views[0], b.views[1])))
 */
import type { Observable, OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import { DataSource, autoRelease, pullFrom, type PullIterator } from '../sources/DataSource.ts';
import type { FlowStats } from './createFlowStats.ts';
import { trackInFlight } from './createFlowStats.ts';

export interface PullMapConfig {
  /** Projects running at once. Default 1. */
  concurrency?: number;
  stats?: FlowStats;
}

export const DEFAULT_PULL_MAP_CONFIG = { concurrency: 1 } as const;

export function pullMap<T, R>(project: (item: T, index: number) => R | Promise<R>, config: PullMapConfig = {}): OperatorFunction<T, R> {
  const fn = 'pullMap';
  if (typeof project !== 'function') throw new ArgumentError(fn, 'project', 'must be a function');
  const concurrency = config.concurrency ?? DEFAULT_PULL_MAP_CONFIG.concurrency;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new ArgumentError(fn, 'config.concurrency', `must be a positive integer, got ${config.concurrency}`);
  const stats = config.stats;
  return (source: Observable<T>) =>
    new DataSource<R>((): PullIterator<R> => {
      const upstream = pullFrom(source, stats ? (n) => (stats.peakUpstreamBuffered = Math.max(stats.peakUpstreamBuffered, n)) : undefined);
      const running: { promise: Promise<{ ok: true; value: R } | { ok: false; err: unknown }> }[] = [];
      let upstreamDone = false;
      let closed = false;
      let count = 0;
      let pulling: Promise<void> | undefined;

      const start = async () => {
        while (!closed && !upstreamDone && running.length < concurrency) {
          const r = await upstream.next();
          if (closed) {
            if (!r.done) autoRelease(r.value);
            return;
          }
          if (r.done) {
            upstreamDone = true;
            return;
          }
          if (stats) stats.pulled++;
          trackInFlight(stats, 1);
          const item = r.value;
          const i = count++;
          const promise = (async () => {
            try {
              return { ok: true as const, value: await project(item, i) };
            } catch (err) {
              return { ok: false as const, err };
            } finally {
              autoRelease(item);
              trackInFlight(stats, -1);
            }
          })();
          running.push({ promise });
        }
      };

      return {
        async next() {
          if (closed) return { done: true, value: undefined };
          pulling ??= start().finally(() => (pulling = undefined));
          await pulling;
          if (running.length === 0) {
            closed = true;
            return { done: true, value: undefined };
          }
          const head = running.shift()!;
          const r = await head.promise;
          if (!r.ok) {
            closed = true;
            void upstream.return?.(undefined);
            throw r.err;
          }
          if (stats) stats.emitted++;
          // keep `concurrency` projects busy while the consumer handles this result
          if (!upstreamDone) pulling ??= start().finally(() => (pulling = undefined));
          return { done: false, value: r.value };
        },
        async return() {
          closed = true;
          await upstream.return?.(undefined);
          return { done: true, value: undefined };
        },
      };
    });
}
