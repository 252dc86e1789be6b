/**
 * Runs a pipeline definition end to end: backend, dataset, training graph with progress, a
 * kNN monitor between epochs, and a final weighted-kNN evaluation next to the raw-pixel
 * baseline.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, tap, defaultIfEmpty } from 'rxjs';
import { initBackend, activeBackend, type BackendInfo } from '../backend/initBackend.ts';
import { registerGradients } from '../train/registerGradients.ts';
import { createAugmentPool } from '../augment/createAugmentPool.ts';
import { openDataset, type OpenedDataset } from './openDataset.ts';
import type { PipelineDefinition, PipelineInstance, StepReport } from './PipelineDefinition.ts';
import { collectImages, type ImageSet } from '../eval/collectImages.ts';
import { encodeImages, rawPixelFeatures } from '../eval/encodeImages.ts';
import { knnClassify } from '../eval/knnClassify.ts';
import { Progress } from '../cli/progress.ts';
import { ArgumentError } from '../errors.ts';

export interface RunOptions {
  /** Data folder; default the embedded Fashion-MNIST subset. */
  data?: string;
  epochs?: number;
  batchSize?: number;
  backend?: string;
  seed?: number;
  /** Config overrides (already typed/validated by the caller). */
  overrides?: Record<string, unknown>;
  /** Train on the first N samples only. */
  trainSubset?: number;
  /** kNN monitor every N epochs (0 = only at the end). Default 1. */
  monitorEvery?: number;
  /** Bank/test sizes of the kNN monitor between epochs. Default 5000 / 1000. */
  monitorTrain?: number;
  monitorTest?: number;
  /** Bank/test sizes of the final evaluation. Default: all. */
  evalTrain?: number;
  evalTest?: number;
  /** Where progress goes. Default stdout. */
  stream?: NodeJS.WriteStream;
  /** Augmentation worker threads. Default: cores. */
  workers?: number;
}

export interface RunResult {
  backend: BackendInfo;
  config: Record<string, unknown>;
  steps: number;
  finalLoss: number;
  imagesPerSecond: number;
  /** Final kNN top-1 of the encoder and of raw pixels (undefined without labels). */
  knnTop1?: number;
  rawKnnTop1?: number;
  history: StepReport[];
}

interface EvalSets {
  train: ImageSet;
  test: ImageSet;
}

function knnTop1(sets: EvalSets, features: (x: tf.Tensor4D) => tf.Tensor2D, numClasses?: number): number {
  const train = encodeImages(sets.train, features);
  const test = encodeImages(sets.test, features);
  try {
    return knnClassify(train, sets.train.labels, test, sets.test.labels, { k: 200, temperature: 0.1, numClasses }).top1;
  } finally {
    tf.dispose([train, test]);
  }
}

function sliceSet(set: ImageSet, n: number | undefined): ImageSet {
  if (n === undefined || n >= set.count) return set;
  const per = set.size * set.size * set.channels;
  return { ...set, count: n, images: set.images.subarray(0, n * per), labels: set.labels.subarray(0, n) };
}

export async function runPipeline<C extends object>(def: PipelineDefinition<C>, options: RunOptions = {}): Promise<RunResult> {
  const out = options.stream ?? process.stdout;
  const say = (l: string) => out.write(`${l}\n`);
  const backend = activeBackend() ?? (await initBackend({ backend: options.backend, log: say }));
  await registerGradients();
  const seed = options.seed ?? 0;
  const epochs = options.epochs ?? 1;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new ArgumentError('runPipeline', 'epochs', `must be a positive integer, got ${epochs}`);

  const dataset: OpenedDataset = await openDataset(options.data);
  const trainSize = Math.min(dataset.trainSize, options.trainSubset ?? Infinity);
  const config = { ...def.defaults, ...(options.overrides ?? {}) } as C & { batchSize?: number; imageSize?: number };
  if (options.batchSize !== undefined) config.batchSize = options.batchSize;
  const batchSize = config.batchSize ?? 256;
  const stepsPerEpoch = Math.floor(trainSize / batchSize);
  if (stepsPerEpoch < 1) {
    throw new ArgumentError('runPipeline', 'batchSize', `${batchSize} is larger than the ${trainSize} training samples`);
  }
  const totalSteps = stepsPerEpoch * epochs;
  say(`pipeline: ${def.name} — ${def.paper}`);
  say(`data: ${dataset.root} (${dataset.format}, ${trainSize} train images${dataset.labelled ? ', labelled' : ''})`);
  say(`config: ${JSON.stringify(config)}`);

  const pool = createAugmentPool({ size: options.workers });
  let instance: PipelineInstance | undefined;
  try {
    const source = dataset.train({ epochs, shuffle: true, seed, subset: options.trainSubset });
    instance = def.create(config, {
      source,
      pool,
      seed,
      dataset: {
        name: dataset.root,
        size: trainSize,
        height: dataset.height,
        width: dataset.width,
        channels: dataset.channels,
        numClasses: dataset.numClasses,
      },
      stepsPerEpoch,
      totalSteps,
    });
    const inst = instance;

    // Evaluation images, decoded once at the encoder's input size.
    let evalSets: EvalSets | undefined;
    if (dataset.labelled && dataset.test !== undefined) {
      evalSets = {
        train: await collectImages(dataset.train({ subset: options.evalTrain }), inst.imageSize, pool),
        test: await collectImages(dataset.test({ subset: options.evalTest }), inst.imageSize, pool),
      };
    }
    const monitorEvery = options.monitorEvery ?? 1;
    const monitorSets = evalSets && {
      train: sliceSet(evalSets.train, options.monitorTrain ?? 5000),
      test: sliceSet(evalSets.test, options.monitorTest ?? 1000),
    };

    const progress = new Progress({ total: totalSteps, stepsPerEpoch, stream: out });
    const history: StepReport[] = [];
    let lastEpochDone = -1;
    await lastValueFrom(
      inst.steps.pipe(
        tap((r) => {
          history.push(r);
          progress.update(r.step, r.epoch, r.loss, r.images);
          const epochDone = Math.floor(r.step / stepsPerEpoch) - 1;
          if (epochDone > lastEpochDone && r.step % stepsPerEpoch === 0) {
            lastEpochDone = epochDone;
            if (monitorSets && monitorEvery > 0 && (epochDone + 1) % monitorEvery === 0 && r.step < totalSteps) {
              const acc = knnTop1(monitorSets, (x) => inst.features(x), dataset.numClasses);
              progress.log(`epoch ${epochDone + 1}: kNN top-1 ${(acc * 100).toFixed(2)}% (monitor: ${monitorSets.train.count} bank / ${monitorSets.test.count} test)`);
            }
          }
        }),
        defaultIfEmpty(undefined),
      ),
    );
    const result: RunResult = {
      backend,
      config: config as Record<string, unknown>,
      steps: history.length,
      finalLoss: history.at(-1)?.loss ?? NaN,
      imagesPerSecond: progress.rate,
      history,
    };
    if (evalSets) {
      result.knnTop1 = knnTop1(evalSets, (x) => inst.features(x), dataset.numClasses);
      result.rawKnnTop1 = knnTop1(evalSets, rawPixelFeatures, dataset.numClasses);
      say(
        `kNN top-1 (k=200, tau=0.1, ${evalSets.train.count} bank / ${evalSets.test.count} test): ` +
          `encoder ${(result.knnTop1 * 100).toFixed(2)}% | raw pixels ${(result.rawKnnTop1 * 100).toFixed(2)}%`,
      );
    }
    return result;
  } finally {
    instance?.dispose();
    await pool.destroy();
  }
}
