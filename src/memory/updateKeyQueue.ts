/**
 * Operator that enqueues each step's keys into MoCo's `KeyQueue` after the optimizer step
 * (He et al. 2019, Algorithm 1: `enqueue(queue, k); dequeue(queue)` at the end of the step):
 * exactly B keys per step, the B oldest dropped. Place it after the step in the pipe, so the loss
 * of a step uses the queue as it was before that step's keys.
 *
 * Synchronous and non-blocking: the queue lives on the backend's device and enqueueing only
 * builds a new buffer there (no download). The value is emitted after the enqueue. The queue
 * copies the keys, so the step's tensors may be disposed downstream. Errors (wrong number of
 * keys, non-increasing steps) go through `subscriber.error`.
 *
 * Step numbers are the emission index (0, 1, ...) unless `step` is given; they must increase.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { KeyQueue } from './KeyQueue.ts';

export interface UpdateKeyQueueConfig<T> {
  /** The queue. Required. */
  queue: KeyQueue;
  /** Picks the step's keys [B, D] (the key encoder's outputs) out of a value. Required. */
  select: (value: T) => tf.Tensor2D;
  /** Step number of a value. Default: its emission index (0, 1, 2, ...). */
  step?: (value: T, index: number) => number;
}

export const DEFAULT_UPDATE_KEY_QUEUE_CONFIG = { step: (_value: unknown, index: number) => index } as const;

export function updateKeyQueue<T>(config: UpdateKeyQueueConfig<T>): MonoTypeOperatorFunction<T> {
  const fn = 'updateKeyQueue';
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  if (!(config.queue instanceof KeyQueue)) throw new ArgumentError(fn, 'config.queue', 'must be a KeyQueue');
  if (typeof config.select !== 'function') throw new ArgumentError(fn, 'config.select', 'must be a function value => keys [B, D]');
  if (config.step !== undefined && typeof config.step !== 'function') throw new ArgumentError(fn, 'config.step', 'must be a function (value, index) => step');
  const { queue, select } = config;
  const stepOf = config.step ?? DEFAULT_UPDATE_KEY_QUEUE_CONFIG.step;
  return (source) =>
    new Observable<T>((subscriber) => {
      let index = 0;
      return source.subscribe({
        next(value) {
          try {
            queue.enqueue(select(value), stepOf(value, index++));
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(value);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}
