/**
 * A tiny pipeline for run-folder tests, built from the real operators: one view (the image as
 * float in [0, 1]) -> batches -> a linear map of the flattened pixels, loss mean(z^2) + 1.
 * It records the (epoch, index) of every trained sample in `seen`, and can make the loss NaN
 * at a chosen step (`nanAtStep`) to test that a diverged run writes no checkpoint.
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../../src/operators/toTensorBatch.ts';
import { trainEach } from '../../src/operators/trainEach.ts';
import { nViews, toFloat } from '../../src/augment/spec.ts';
import { linearProjection } from '../../src/models/linearProjection.ts';
import { sgd } from '../../src/optim/sgd.ts';
import type { TensorBatch } from '../../src/data.ts';

export interface RecordingConfig {
  batchSize: number;
  outDim: number;
  lr: number;
  /** Make the loss NaN at this step (0: never). */
  nanAtStep: number;
}

/** (epoch, index) of every sample trained on, in order, across runs in this process. */
export const seen: [number, number][] = [];

export default definePipeline<RecordingConfig>({
  name: 'recording',
  paper: 'test fixture',
  summary: 'records the samples it trains on',
  defaults: { batchSize: 8, outDim: 4, lr: 0.01, nanAtStep: 0 },
  create(config, ctx) {
    const size = ctx.dataset.height;
    const channels = ctx.dataset.channels;
    const fc = linearProjection({ inDim: size * size * channels, outDim: config.outDim, seed: ctx.seed });
    const optimizer = sgd({ lr: config.lr, momentum: 0.9 });
    const steps = ctx.source.pipe(
      augmentInPool({ pool: ctx.pool, seed: ctx.seed, augment: nViews(1, [toFloat()]) }),
      batchWithPrefetch({ batchSize: config.batchSize, prefetch: 2, dropLast: true }),
      toTensorBatch(),
      trainEach<TensorBatch>({
        params: fc,
        optimizer,
        firstStep: ctx.firstStep,
        loss: (b) => {
          for (let i = 0; i < b.size; i++) seen.push([b.epochs[i], b.indices[i]]);
          const x = tf.reshape(b.views[0], [b.size, -1]); // [B, S*S*C]
          const z = fc.forward(x, { training: true }); // [B, outDim]
          const loss = tf.add(tf.mean(tf.square(z)), 1) as tf.Scalar;
          return optimizer.iterations + 1 === config.nanAtStep ? (tf.mul(loss, NaN) as tf.Scalar) : loss;
        },
      }),
      map((s) => s.report),
    );
    return {
      steps,
      imageSize: size,
      modules: { fc },
      optimizer,
      features: (images) => tf.tidy(() => fc.forward(tf.reshape(images, [images.shape[0], -1]), { training: false }) as tf.Tensor2D),
      dispose: () => {
        fc.dispose();
        optimizer.dispose();
      },
    };
  },
});
