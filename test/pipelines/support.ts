/**
 * Smoke-test harness for pipeline definitions: tiny synthetic data, a few steps on the
 * default backend, the losses and the tensor counts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, toArray } from 'rxjs';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { registerGradients } from '../../src/train/registerGradients.ts';
import { createAugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import type { PipelineDefinition, StepReport } from '../../src/pipeline/PipelineDefinition.ts';

export interface SmokeOptions {
  images?: number;
  size?: number;
  channels?: number;
  epochs?: number;
  batchSize?: number;
  overrides?: Record<string, unknown>;
}

/** Class-structured random images: class c has a bright square at a class-specific place. */
export function syntheticImages(n: number, size: number, channels: number, seed = 1): { images: Uint8Array; labels: Uint8Array } {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const images = new Uint8Array(n * size * size * channels);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    const ox = (c % 2) * (size >> 1);
    const oy = (c >> 1) * (size >> 1);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let k = 0; k < channels; k++) {
          const inside = x >= ox && x < ox + (size >> 1) && y >= oy && y < oy + (size >> 1);
          images[((i * size + y) * size + x) * channels + k] = Math.min(255, Math.floor((inside ? 180 : 30) + rnd() * 60 + k * 10));
        }
  }
  return { images, labels };
}

export async function smokeRun<C extends object>(def: PipelineDefinition<C>, options: SmokeOptions = {}) {
  if (activeBackend() === undefined) await initBackend({ log: null });
  await registerGradients();
  const n = options.images ?? 64;
  const size = options.size ?? 16;
  const channels = options.channels ?? 1;
  const epochs = options.epochs ?? 6;
  const batchSize = options.batchSize ?? 16;
  const { images, labels } = syntheticImages(n, size, channels);
  const pool = createAugmentPool({ size: 1 });
  const config = { ...def.defaults, imageSize: size, batchSize, ...(options.overrides ?? {}) } as C;
  const stepsPerEpoch = Math.floor(n / batchSize);
  const before = tf.memory().numTensors;
  const instance = def.create(config, {
    source: fromArrays({ images, width: size, height: size, channels, labels }, { epochs, shuffle: true, seed: 3 }),
    trainOnce: () => fromArrays({ images, width: size, height: size, channels, labels }),
    pool,
    seed: 0,
    dataset: { name: 'synthetic', size: n, height: size, width: size, channels, numClasses: 4 },
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * epochs,
  });
  let tensorsAfterFirstEpoch = -1;
  let reports: StepReport[] = [];
  try {
    reports = await lastValueFrom(instance.steps.pipe(toArray()));
    tensorsAfterFirstEpoch = tf.memory().numTensors;
    // eval path must not leak either
    const x = tf.randomUniform([4, size, size, channels]) as tf.Tensor4D;
    const f = instance.features(x);
    const featureShape = f.shape;
    tf.dispose([x, f]);
    const tensorsAfterEval = tf.memory().numTensors;
    return { reports, featureShape, tensorsAfterFirstEpoch, tensorsAfterEval, before, instance, images, config };
  } finally {
    instance.dispose();
    await pool.destroy();
  }
}

/** Mean of the first and last k losses. */
export function lossTrend(reports: StepReport[], k = 4): { first: number; last: number } {
  const mean = (xs: StepReport[]) => xs.reduce((a, r) => a + r.loss, 0) / xs.length;
  return { first: mean(reports.slice(0, k)), last: mean(reports.slice(-k)) };
}
