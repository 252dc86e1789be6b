/**
 * A Piscina pool of augmentation workers (worker threads running augmentWorker.ts). Create one
 * to share between pipelines or across subscriptions (worker start-up - loading sharp and the
 * modules - costs a few hundred ms); otherwise `augmentInPool` makes its own per subscription.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { ResourceLimits } from 'node:worker_threads';
import { ArgumentError } from '../errors.ts';
import type { AugmentTask, AugmentTaskResult } from './workerProtocol.ts';

export interface AugmentPoolConfig {
  /** Worker threads. Default: the number of cores (os.availableParallelism()). */
  size?: number;
  /** V8 heap limits of each worker. */
  resourceLimits?: ResourceLimits;
}

export const DEFAULT_AUGMENT_POOL_CONFIG = { size: availableParallelism() } as const;

export class AugmentPool {
  readonly size: number;
  private readonly piscina: Piscina;
  private lastError: unknown;
  private closing: Promise<void> | undefined;

  constructor(config: AugmentPoolConfig = {}) {
    const size = config.size ?? DEFAULT_AUGMENT_POOL_CONFIG.size;
    if (!(Number.isInteger(size) && size >= 1)) throw new ArgumentError('createAugmentPool', 'config.size', `must be a positive integer, got ${config.size}`);
    this.size = size;
    this.piscina = new Piscina({
      filename: new URL('./augmentWorker.mjs', import.meta.url).href,
      minThreads: size,
      maxThreads: size,
      // Two tasks per worker: the next chunk is already in the worker when one finishes, so a
      // busy main thread (batch assembly, GC) does not leave workers idle. Tasks interleave
      // only at sharp decodes, which own their pixels (see augmentWorker.ts).
      concurrentTasksPerWorker: 2,
      idleTimeout: 2 ** 31 - 1,
      resourceLimits: config.resourceLimits,
    });
    // Errors outside tasks (a worker failing to start, say): keep the latest for context.
    this.piscina.on('error', (err: unknown) => {
      this.lastError = err;
    });
  }

  /** Runs one chunk. Transfers `transfer` (the packed input pixels) to the worker. */
  run(task: AugmentTask, transfer: ArrayBuffer[]): Promise<AugmentTaskResult> {
    if (this.closing) return Promise.reject(new Error('AugmentPool is destroyed'));
    return this.piscina.run(task, { transferList: transfer }).catch((err: unknown) => {
      if (this.lastError !== undefined && err instanceof Error && !err.cause) {
        (err as Error & { cause?: unknown }).cause = this.lastError;
      }
      throw err;
    }) as Promise<AugmentTaskResult>;
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
