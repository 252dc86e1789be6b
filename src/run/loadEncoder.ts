/**
 * loadEncoder: a trained encoder from a run folder or a weights folder, for `eval` and `embed`.
 *
 * - A run folder (config.json): builds the pipeline's instance from config.json and loads
 *   `weights/` (the final weights) when present, else the latest checkpoint.
 * - A weights folder (model.json + pipeline.json, as runPipeline writes to `<run>/weights`):
 *   builds the instance from pipeline.json and loads the weights.
 *
 * `features(images)` maps [N, S, S, C] float32 in [0, 1] (S = imageSize, C = channels) to
 * [N, D] in eval mode; the caller disposes the result. `dispose()` frees every weight.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors.ts';
import { activeBackend, initBackend } from '../backend/initBackend.ts';
import { createAugmentPool } from '../augment/createAugmentPool.ts';
import { DataSource } from '../sources/DataSource.ts';
import type { SourceItem } from '../data.ts';
import type { DatasetInfo, PipelineInstance } from '../pipeline/PipelineDefinition.ts';
import { ModuleBundle } from '../pipeline/buildEncoder.ts';
import { loadWeights } from '../models/loadWeights.ts';
import { MODEL_JSON } from '../models/fileSystemIO.ts';
import { CONFIG_JSON, PIPELINE_JSON, WEIGHTS_DIR, readRunInfo, type RunInfo } from './RunFolder.ts';
import { latestCheckpoint, readCheckpoint } from './checkpoint.ts';
import { restoreModules } from './moduleState.ts';
import { resolvePipeline, type PipelineResolver } from './resolvePipeline.ts';

export interface LoadedEncoder {
  features(images: tf.Tensor4D): tf.Tensor2D;
  imageSize: number;
  channels: number;
  /** Pipeline name or module path, as recorded. */
  pipeline: string;
  /** Where the weights came from (weights folder or checkpoint folder). */
  source: string;
  dispose(): void;
}

export interface LoadEncoderConfig {
  /** Finds the definition of a recorded pipeline. Default: resolvePipeline (built-ins, module paths). */
  resolve?: PipelineResolver;
  /** Backend when none is active yet. */
  backend?: string;
}

/** Builds a pipeline instance (untrained) from recorded run info, without data. */
export async function buildInstance(info: RunInfo, resolve: PipelineResolver = resolvePipeline): Promise<PipelineInstance> {
  const def = await resolve(info.pipeline);
  const run = info.run as { dataset?: DatasetInfo; seed?: number; stepsPerEpoch?: number; totalSteps?: number };
  const dataset = run.dataset;
  if (dataset === undefined || typeof dataset !== 'object' || !(Number.isInteger(dataset.channels) && dataset.channels >= 1)) {
    throw new CheckpointError(info.pipeline, "run info has no 'run.dataset' (channels, size, height, width); it was not written by runPipeline");
  }
  const pool = createAugmentPool({ size: 1 }); // never used: the instance's stream is not subscribed
  try {
    return def.create({ ...def.defaults, ...info.config }, {
      source: new DataSource<SourceItem>(() => ({ next: async () => ({ done: true as const, value: undefined }) })), // empty
      pool,
      seed: run.seed ?? 0,
      dataset,
      stepsPerEpoch: run.stepsPerEpoch ?? 1,
      totalSteps: run.totalSteps ?? 1,
    });
  } finally {
    await pool.destroy();
  }
}

export async function loadEncoder(runDirOrWeightsDir: string, config: LoadEncoderConfig = {}): Promise<LoadedEncoder> {
  const dir = path.resolve(runDirOrWeightsDir);
  if (activeBackend() === undefined) await initBackend({ backend: config.backend, log: null });
  let info: RunInfo;
  let weightsDir: string | undefined;
  let checkpointDir: string | undefined;
  if (existsSync(path.join(dir, CONFIG_JSON))) {
    info = await readRunInfo(path.join(dir, CONFIG_JSON));
    if (existsSync(path.join(dir, WEIGHTS_DIR, MODEL_JSON))) weightsDir = path.join(dir, WEIGHTS_DIR);
    else checkpointDir = (await latestCheckpoint(dir)).dir;
  } else if (existsSync(path.join(dir, PIPELINE_JSON))) {
    info = await readRunInfo(path.join(dir, PIPELINE_JSON));
    weightsDir = dir;
  } else {
    throw new CheckpointError(dir, `is neither a run folder (${CONFIG_JSON}) nor a weights folder (${MODEL_JSON} + ${PIPELINE_JSON})`);
  }
  const inst = await buildInstance(info, config.resolve);
  try {
    if (weightsDir !== undefined) {
      await loadWeights(new ModuleBundle(inst.modules), weightsDir); // the bundle is not disposed: the instance owns the modules
    } else {
      const ckpt = await readCheckpoint(checkpointDir as string);
      restoreModules(inst.modules, ckpt.modules, checkpointDir as string);
    }
  } catch (err) {
    inst.dispose();
    throw err;
  }
  const run = info.run as { dataset: DatasetInfo };
  return {
    features: (images) => inst.features(images),
    imageSize: inst.imageSize,
    channels: run.dataset.channels,
    pipeline: info.pipeline,
    source: weightsDir ?? (checkpointDir as string),
    dispose: () => inst.dispose(),
  };
}
