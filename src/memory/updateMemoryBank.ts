/**
 * Operator that writes each training step's features into a `MemoryBank`, after the optimizer
 * step (place it after the step in the pipe):
 *
 *   v_i <- normalize( m v_i + (1 - m) f_i )    for every instance i of the step's batch
 *
 * Asynchronous, in step order: for each value it validates the selection, schedules the update
 * (`bank.scheduleUpdate`, which clones the features and starts their download) and emits the value
 * at once, without waiting for the rows to be written, so the next forward pass is never blocked.
 * The bank applies the updates strictly in step order, as soon as each step's data has arrived
 * (and before any read that finds it arrived). When the source completes, completion is held back
 * until every update has been applied, so downstream of completion the bank is consistent.
 * A failed update (bad shape, unreadable tensor) errors the stream through `subscriber.error`.
 *
 * Step numbers are the emission index (0, 1, ...) unless `step` is given; they must increase.
 */
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import { MemoryBank } from './MemoryBank.ts';

export interface UpdateMemoryBankConfig<T> {
  /** The bank to update. Required. */
  bank: MemoryBank;
  /** Picks the instance indices [B] and their new features [B, D] out of a step's value. Required. */
  select: (value: T) => { indices: ArrayLike<number>; features: tf.Tensor2D };
  /** Step number of a value. Default: its emission index (0, 1, 2, ...). */
  step?: (value: T, index: number) => number;
}

export const DEFAULT_UPDATE_MEMORY_BANK_CONFIG = { step: (_value: unknown, index: number) => index } as const;

export function updateMemoryBank<T>(config: UpdateMemoryBankConfig<T>): MonoTypeOperatorFunction<T> {
  const fn = 'updateMemoryBank';
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  if (!(config.bank instanceof MemoryBank)) throw new ArgumentError(fn, 'config.bank', 'must be a MemoryBank');
  if (typeof config.select !== 'function') throw new ArgumentError(fn, 'config.select', 'must be a function value => { indices, features }');
  if (config.step !== undefined && typeof config.step !== 'function') throw new ArgumentError(fn, 'config.step', 'must be a function (value, index) => step');
  const { bank, select } = config;
  const stepOf = config.step ?? DEFAULT_UPDATE_MEMORY_BANK_CONFIG.step;
  return (source) =>
    new Observable<T>((subscriber) => {
      let index = 0;
      const onFailure = (error: unknown) => subscriber.error(error);
      const subscription = source.subscribe({
        next(value) {
          try {
            const { indices, features } = select(value);
            bank.scheduleUpdate(indices, features, stepOf(value, index++)).catch(onFailure);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(value);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          bank.flush().then(
            () => subscriber.complete(),
            (error: unknown) => subscriber.error(error),
          );
        },
      });
      return subscription;
    });
}
