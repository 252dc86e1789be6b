/**
 * toTensorBatch: wraps typed-array batches into TensorFlow.js tensors, and disposes them when
 * the consumer is done with the batch (the lease is released: see DataSource).
 *
 *   views[k]: [N, H, W, C] float32 (uint8 views become float32 0..255, or int32 with
 *             `uint8As: 'int32'`); labels: [N] int32 (-1 = none), undefined without labels.
 *
 * Tensors are made when a batch is pulled, so at most the batches the consumer holds have
 * tensors. Releasing the TensorBatch disposes its tensors and releases the typed-array batch
 * upstream. Keep a tensor beyond the lease with `tf.keep`-free copies (`t.clone()`), not by
 * holding the original.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Observable, type OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import type { ArrayBatch, TensorBatch } from '../data.ts';
import { AUTO_RELEASE, DataSource, autoRelease, isPullable, type PullIterator } from '../sources/DataSource.ts';
import { KEEP_ARRAYS } from './batchWithPrefetch.ts';

export interface ToTensorBatchConfig {
  /** dtype for uint8 views: 'float32' (values 0..255, default) or 'int32'. */
  uint8As?: 'float32' | 'int32';
}

export const DEFAULT_TO_TENSOR_BATCH_CONFIG = { uint8As: 'float32' } as const;

const COPYING_BACKENDS = new Set(['wasm', 'tensorflow', 'tensorflow-gpu', 'webgl', 'webgpu']);

class Tensors implements TensorBatch {
  private refs = 1;
  released = false;
  readonly size: number;
  readonly indices: Int32Array;
  readonly epochs: Int32Array;
  readonly labels: tf.Tensor1D | undefined;
  readonly views: tf.Tensor[];

  constructor(
    private readonly batch: ArrayBatch,
    uint8As: 'float32' | 'int32',
  ) {
    // The cpu backend keeps a reference to the typed array a tensor is made from, so the batch's
    // arrays must not be recycled; backends that copy into their own memory do not need this.
    if (!COPYING_BACKENDS.has(tf.getBackend())) (batch as unknown as { [KEEP_ARRAYS]?: () => void })[KEEP_ARRAYS]?.();
    this.size = batch.size;
    this.indices = batch.indices;
    this.epochs = batch.epochs;
    const views: tf.Tensor[] = [];
    try {
      for (const v of batch.views) {
        if (v.data instanceof Float32Array) views.push(tf.tensor(v.data, [...v.shape], 'float32'));
        else if (uint8As === 'int32') views.push(tf.tensor(Int32Array.from(v.data), [...v.shape], 'int32'));
        else views.push(tf.tensor(Float32Array.from(v.data), [...v.shape], 'float32'));
      }
      this.labels = batch.labels ? tf.tensor1d(batch.labels, 'int32') : undefined;
    } catch (err) {
      for (const t of views) t.dispose();
      throw err;
    }
    this.views = views;
  }

  retain(): this {
    if (this.released) throw new Error('TensorBatch.retain: the batch was already released');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) return;
    this.refs--;
    if (this.refs > 0) return;
    this.released = true;
    for (const t of this.views) t.dispose();
    this.labels?.dispose();
    this.batch.release();
  }

  [AUTO_RELEASE](): void {
    this.release();
  }
}

export function toTensorBatch(config: ToTensorBatchConfig = {}): OperatorFunction<ArrayBatch, TensorBatch> {
  const uint8As = config.uint8As ?? DEFAULT_TO_TENSOR_BATCH_CONFIG.uint8As;
  if (uint8As !== 'float32' && uint8As !== 'int32') throw new ArgumentError('toTensorBatch', 'config.uint8As', `must be 'float32' or 'int32', got ${uint8As}`);
  return (source: Observable<ArrayBatch>) => {
    if (!isPullable(source)) {
      return new Observable<TensorBatch>((subscriber) =>
        source.subscribe({
          next: (b) => {
            // the upstream releases `b` after this returns: hold it for the tensor batch
            b.retain();
            let t: Tensors;
            try {
              t = new Tensors(b, uint8As);
            } catch (err) {
              b.release();
              subscriber.error(err);
              return;
            }
            subscriber.next(t);
            autoRelease(t);
          },
          error: (err) => subscriber.error(err),
          complete: () => subscriber.complete(),
        }),
      );
    }
    return new DataSource<TensorBatch>((): PullIterator<TensorBatch> => {
      const upstream = source.pull();
      return {
        async next() {
          const r = await upstream.next();
          if (r.done) return r;
          try {
            return { done: false, value: new Tensors(r.value, uint8As) };
          } catch (err) {
            r.value.release();
            throw err;
          }
        },
        async return() {
          await upstream.return?.(undefined);
          return { done: true, value: undefined };
        },
      };
    });
  };
}
