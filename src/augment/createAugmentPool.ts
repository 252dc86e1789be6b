/**
 * A Piscina pool of augmentation workers (worker threads running augmentWorker.ts). Create one
 * to share between pipelines or across subscriptions (worker start-up - loading sharp and the
 * modules - costs a few hundred ms); otherwise `augmentInPool` makes its own per subscription.
 *
 * Faults (the torch DataLoader's dead / stuck worker reports): a task whose worker exits, runs
 * out of its heap (`resourceLimits`) or exceeds `taskTimeoutMs` (the worker is terminated via
 * an AbortSignal) rejects with a WorkerError of kind 'exit', 'out-of-memory' or 'timeout'; only
 * the tasks on that worker fail, Piscina starts a replacement and later tasks run normally.
 * A worker that cannot start (its module throws while loading) makes every pending and later
 * task reject with WorkerError 'init' instead of waiting forever. Pool-level 'error' events
 * are always handled (an unhandled one would crash the process); `onPoolError` sees them.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { ResourceLimits } from 'node:worker_threads';
import { ArgumentError } from '../errors.ts';
import { WorkerError } from '../data.ts';
import type { AugmentTask, AugmentTaskResult } from './workerProtocol.ts';
import { TASK_STARTED, WORKER_INIT_FAILED } from './workerProtocol.ts';

export interface AugmentPoolConfig {
  /** Worker threads. Default: the number of cores (os.availableParallelism()). */
  size?: number;
  /** V8 heap limits of each worker. Default: Node's defaults. */
  resourceLimits?: ResourceLimits;
  /**
   * Longest time one task (a chunk of samples) may run before its worker is terminated and the
   * task fails with WorkerError 'timeout'. It counts from the moment a worker starts the task
   * (time queued, or waiting for a replacement worker to boot, does not count; a task that is
   * not started within 10x this time, at least 60 s, times out too). 0 disables it.
   * Default 60 000 ms.
   */
  taskTimeoutMs?: number;
  /** Called with every pool-level error (a worker failing outside a task, or failing to start). */
  onPoolError?: (error: unknown) => void;
  /**
   * Advanced: the worker module (a file URL or path) - one whose default export handles
   * AugmentTask messages like augmentWorker.mjs (tests use it to inject faults). Default:
   * the bundled augmentWorker.mjs.
   */
  workerFile?: string | URL;
}

export const DEFAULT_AUGMENT_POOL_CONFIG = { size: availableParallelism(), taskTimeoutMs: 60_000 } as const;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AugmentPool {
  readonly size: number;
  readonly taskTimeoutMs: number;
  private readonly piscina: Piscina;
  private lastError: unknown;
  private closing: Promise<void> | undefined;
  /** Set once a worker failed to load: every task rejects with it. */
  private initFailure: WorkerError | undefined;
  private completed = 0;
  private readonly pending = new Set<(err: WorkerError) => void>();
  private readonly onPoolError: ((error: unknown) => void) | undefined;
  private nextTaskId = 1;
  /** Start time (performance.now()) of running tasks, by task id. */
  private readonly startedAt = new Map<number, number>();

  constructor(config: AugmentPoolConfig = {}) {
    const fn = 'createAugmentPool';
    const size = config.size ?? DEFAULT_AUGMENT_POOL_CONFIG.size;
    if (!(Number.isInteger(size) && size >= 1)) throw new ArgumentError(fn, 'config.size', `must be a positive integer, got ${config.size}`);
    const timeout = config.taskTimeoutMs ?? DEFAULT_AUGMENT_POOL_CONFIG.taskTimeoutMs;
    if (!(Number.isFinite(timeout) && timeout >= 0)) throw new ArgumentError(fn, 'config.taskTimeoutMs', `must be a non-negative number of ms (0 = none), got ${config.taskTimeoutMs}`);
    if (config.onPoolError !== undefined && typeof config.onPoolError !== 'function') throw new ArgumentError(fn, 'config.onPoolError', 'must be a function');
    this.size = size;
    this.taskTimeoutMs = timeout;
    this.onPoolError = config.onPoolError;
    const file = config.workerFile ?? new URL('./augmentWorker.mjs', import.meta.url);
    this.piscina = new Piscina({
      filename: file instanceof URL ? file.href : file,
      minThreads: size,
      maxThreads: size,
      // Two tasks per worker: the next chunk is already in the worker when one finishes, so a
      // busy main thread (batch assembly, GC) does not leave workers idle. Tasks interleave
      // only at sharp decodes, which own their pixels (see augmentWorker.ts).
      concurrentTasksPerWorker: 2,
      idleTimeout: 2 ** 31 - 1,
      resourceLimits: config.resourceLimits,
    });
    // Errors outside tasks (a worker failing to start, an exception in an idle worker). Always
    // handled: an 'error' event without a listener would crash the process.
    this.piscina.on('error', (err: unknown) => this.poolError(err));
    this.piscina.on('message', (m: unknown) => {
      const id = m !== null && typeof m === 'object' ? (m as Record<string, unknown>)[TASK_STARTED] : undefined;
      if (typeof id === 'number' && id < this.nextTaskId && !this.startedAt.has(id)) this.startedAt.set(id, performance.now());
    });
  }

  private poolError(err: unknown): void {
    this.lastError = err;
    try {
      this.onPoolError?.(err);
    } catch {
      // a throwing callback must not turn into an unhandled 'error'
    }
    // A load failure, or an error before any task ever completed: the workers cannot start.
    // Piscina stops replacing workers that fail during bootstrap, so queued tasks would wait
    // forever: fail them (and every later task) now.
    if (this.initFailure === undefined && (messageOf(err).startsWith(WORKER_INIT_FAILED) || this.completed === 0)) {
      this.initFailure = new WorkerError('init', messageOf(err).replace(WORKER_INIT_FAILED, '').trim() || 'the worker failed to start', { cause: err });
      for (const reject of [...this.pending]) reject(this.initFailure);
      this.pending.clear();
    }
  }

  /** Pool-level errors seen so far: the latest (undefined if none). */
  get lastPoolError(): unknown {
    return this.lastError;
  }

  private classify(err: unknown, timedOut: boolean, userAborted: boolean): WorkerError {
    if (err instanceof WorkerError) return err;
    const e = err as (Error & { code?: string }) | undefined;
    const msg = messageOf(err);
    if (e?.name === 'AbortError') {
      if (timedOut) return new WorkerError('timeout', `a task ran longer than taskTimeoutMs ${this.taskTimeoutMs} ms`, { cause: err });
      if (userAborted) return new WorkerError('aborted', msg, { cause: err });
      return new WorkerError('destroyed', msg, { cause: err });
    }
    if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') return new WorkerError('out-of-memory', msg, { cause: err });
    if (msg.startsWith(WORKER_INIT_FAILED)) return new WorkerError('init', msg.replace(WORKER_INIT_FAILED, '').trim(), { cause: err });
    if (/^worker exited with code/.test(msg)) return new WorkerError('exit', msg, { cause: err });
    if (this.closing) return new WorkerError('destroyed', msg, { cause: err });
    // The task function itself never throws (per-sample errors are results): an error before
    // any task ever completed is the worker module failing to load.
    if (this.completed === 0) return new WorkerError('init', msg, { cause: err });
    return new WorkerError('crash', msg, { cause: err });
  }

  /**
   * Runs one chunk. Transfers `transfer` (the packed input pixels) to the worker. Rejects with
   * a WorkerError when the worker fails (see the file comment); `signal` aborts the task.
   */
  run(task: AugmentTask, transfer: ArrayBuffer[], signal?: AbortSignal): Promise<AugmentTaskResult> {
    if (this.closing) return Promise.reject(new WorkerError('destroyed', 'AugmentPool.run after destroy()'));
    if (this.initFailure) return Promise.reject(this.initFailure);
    const id = this.nextTaskId++;
    const timer = this.taskTimeoutMs > 0 ? new AbortController() : undefined;
    let handle: ReturnType<typeof setTimeout> | undefined;
    if (timer) {
      const limit = this.taskTimeoutMs;
      const maxWait = Math.max(10 * limit, 60_000);
      const submitted = performance.now();
      const check = () => {
        const now = performance.now();
        const start = this.startedAt.get(id);
        const left = start === undefined ? Math.min(limit, submitted + maxWait - now) : start + limit - now;
        if (left <= 0) timer.abort();
        else handle = setTimeout(check, left);
      };
      handle = setTimeout(check, limit);
    }
    const signals = [timer?.signal, signal].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    return new Promise<AugmentTaskResult>((resolve, reject) => {
      const onInit = (err: WorkerError) => reject(err);
      this.pending.add(onInit);
      this.piscina.run({ ...task, taskId: id }, { transferList: transfer, signal: combined }).then(
        (r: AugmentTaskResult) => {
          this.completed++;
          resolve(r);
        },
        (err: unknown) => {
          const e = this.initFailure ?? this.classify(err, timer?.signal.aborted === true, signal?.aborted === true);
          if (e.kind === 'init') this.initFailure ??= e; // Piscina will not start workers again
          reject(e);
        },
      ).finally(() => {
        if (handle !== undefined) clearTimeout(handle);
        this.startedAt.delete(id);
        this.pending.delete(onInit);
      });
    });
  }

  get destroyed(): boolean {
    return this.closing !== undefined;
  }

  /** Stops the workers; pending tasks reject. */
  destroy(): Promise<void> {
    this.closing ??= this.piscina.destroy().catch(() => undefined);
    return this.closing;
  }
}

export function createAugmentPool(config: AugmentPoolConfig = {}): AugmentPool {
  return new AugmentPool(config);
}
