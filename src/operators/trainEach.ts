/**
 * trainEach: one optimizer step per batch.
 *
 *   batch -> loss(batch) under the gradient tape -> trainStep (NaN/Inf check, update)
 *         -> emits { batch, report, outputs }
 *
 * `loss` may return a scalar, or `{ loss, outputs }` where `outputs` are tensors computed in
 * the step that later operators need (features for a memory bank, keys for a queue). They are
 * detached copies owned by the emitted value and disposed, with the batch's lease, once the
 * downstream `next` returns — so place state updates (updateMemoryBank, updateKeyQueue,
 * updateMomentumEncoder) right after this operator, and they see the step's outputs after the
 * optimizer step, in step order.
 *
 * Errors (a DivergenceError from trainStep, a shape error in the loss) go through the
 * stream. The step is synchronous: the next batch is pulled only when it is done, so the data
 * plane upstream holds no more than its configured prefetch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Observable, type OperatorFunction } from 'rxjs';
import { ArgumentError } from '../errors.ts';
import type { Lease } from '../data.ts';
import { trainStep, type TrainableParams } from '../train/trainStep.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import type { StepReport } from '../pipeline/PipelineDefinition.ts';

export type LossResult = tf.Scalar | { loss: tf.Scalar; outputs?: Record<string, tf.Tensor> };

export interface TrainEachConfig<B> {
  /** Parameters the optimizer updates. */
  params: TrainableParams;
  optimizer: Optimizer;
  /** Builds the loss of one batch (runs under the gradient tape). */
  loss: (batch: B) => LossResult;
  /** Source images in a batch (img/s). Default: `batch.size`. */
  images?: (batch: B) => number;
  /** Epoch of a batch. Default: the epoch of its last row (`batch.epochs`). */
  epoch?: (batch: B) => number;
  /** Clip the global gradient norm. Default: none. */
  maxGradNorm?: number;
  /** Step number of the first batch (resume). Default 1. */
  firstStep?: number;
}

export interface TrainedStep<B> {
  batch: B;
  report: StepReport;
  /** Detached tensors the loss returned; valid until the downstream `next` returns. */
  outputs: Record<string, tf.Tensor>;
}

interface BatchLike {
  size?: number;
  epochs?: Int32Array;
  indices?: Int32Array;
}

function isLease(x: unknown): x is Lease {
  return x !== null && typeof x === 'object' && typeof (x as Lease).retain === 'function';
}

export function trainEach<B>(config: TrainEachConfig<B>): OperatorFunction<B, TrainedStep<B>> {
  const fn = 'trainEach';
  if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
  if (typeof config.loss !== 'function') throw new ArgumentError(fn, 'config.loss', 'must be a function (batch) => scalar');
  if (config.optimizer === undefined) throw new ArgumentError(fn, 'config.optimizer', 'is required');
  const imagesOf = config.images ?? ((b: B) => (b as BatchLike).size ?? 0);
  const epochOf =
    config.epoch ??
    ((b: B) => {
      const e = (b as BatchLike).epochs;
      return e !== undefined && e.length > 0 ? e[e.length - 1] : 0;
    });
  return (source) =>
    new Observable<TrainedStep<B>>((subscriber) => {
      let step = config.firstStep ?? 1;
      return source.subscribe({
        next(batch) {
          let outputs: Record<string, tf.Tensor> = {};
          const held = isLease(batch) ? batch.retain() : undefined;
          try {
            const lr = config.optimizer.learningRate();
            const loss = trainStep({
              params: config.params,
              optimizer: config.optimizer,
              step,
              maxGradNorm: config.maxGradNorm,
              lossFn: () => {
                const r = config.loss(batch);
                if (r instanceof tf.Tensor) return r;
                // Detached copies that survive the tape's tidy; disposed below.
                for (const [k, t] of Object.entries(r.outputs ?? {})) outputs[k] = tf.keep(t.clone());
                return r.loss;
              },
            });
            const report: StepReport = { step, epoch: epochOf(batch), loss, images: imagesOf(batch), lr };
            const indices = (batch as BatchLike).indices;
            if (indices !== undefined && indices.length > 0) report.lastIndex = indices[indices.length - 1]; // where a resume continues
            step++;
            subscriber.next({ batch, report, outputs });
          } catch (err) {
            subscriber.error(err);
          } finally {
            tf.dispose(Object.values(outputs));
            outputs = {};
            held?.release();
          }
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
    });
}
