/**
 * What a pipeline file in `pipelines/` exports, and what the runner gives it.
 *
 * A pipeline definition is a named, typed config with the paper's defaults beside it, and a
 * `create` that builds the models and the training graph: one RxJS `pipe()` chain from the
 * sample source to one `StepReport` per optimizer step. The runner (runPipeline) owns the
 * backend, the dataset, progress, evaluation and checkpoints; the pipeline owns its models,
 * state (bank, queue, momentum encoder) and their disposal.
 */
import type { Observable } from 'rxjs';
import type * as tf from '@tensorflow/tfjs-core';
import type { SourceItem } from '../data.ts';
import type { DataSource } from '../sources/DataSource.ts';
import type { AugmentPool } from '../augment/createAugmentPool.ts';
import type { Module } from '../models/module.ts';
import type { Optimizer } from '../optim/optimizer.ts';

/** Shape and size of the training data. */
export interface DatasetInfo {
  /** Where it came from (path or 'embedded'). */
  name: string;
  /** Training samples (after any subset). */
  size: number;
  /** Native image size and channels (folders: the configured decode size). */
  height: number;
  width: number;
  channels: number;
  /** Classes, when the data has labels. */
  numClasses?: number;
}

export interface PipelineContext {
  /** Training items for all epochs, shuffled per epoch with the run's seed. */
  source: DataSource<SourceItem>;
  dataset: DatasetInfo;
  /**
   * The same training items once, unshuffled (same dataset indices as `source`), for passes
   * that do not train: e.g. filling a memory bank from the initial encoder. Optional (a caller
   * that builds a context by hand may leave it out; pipelines then fall back).
   */
  trainOnce?: () => DataSource<SourceItem>;
  /** Shared augmentation worker pool. */
  pool: AugmentPool;
  /** Run seed (weights, augmentation, sampling). */
  seed: number;
  /** Optimizer steps per epoch and in the whole run (for LR schedules). */
  stepsPerEpoch: number;
  totalSteps: number;
  /**
   * Number of the first step this run trains: 1, or the checkpoint's step + 1 on resume. Pass
   * it to `trainEach({ firstStep })` so step numbers (and bank/queue steps) continue. Default 1.
   */
  firstStep?: number;
  /**
   * On resume: what the instance's `state()` returned at the checkpoint (typed arrays
   * included). Build the memory bank / queue / normaliser from it instead of afresh. Module
   * weights and optimizer state are restored by the runner after `create`.
   */
  restoredState?: Record<string, unknown>;
}

/** What one optimizer step reports. */
export interface StepReport {
  /** 1-based step number of the run. */
  step: number;
  /** 0-based epoch of the batch's last sample. */
  epoch: number;
  loss: number;
  /** Source images in the batch. */
  images: number;
  /** Learning rate used. */
  lr: number;
  /**
   * Dataset index of the batch's last sample (with `epoch`, where the data stream stands: a
   * resume continues after it). Set by trainEach for batches with `indices`.
   */
  lastIndex?: number;
}

export interface PipelineInstance {
  /** The training graph: one report per optimizer step. Cold; subscribe once. */
  steps: Observable<StepReport>;
  /**
   * Features for evaluation and `embed`: images [N, H, W, C] float32 in [0, 1] at the
   * pipeline's `imageSize` and the data's channels -> [N, D]. Runs in eval mode; the caller
   * disposes the result.
   */
  features(images: tf.Tensor4D): tf.Tensor2D;
  /** Square input size the encoder expects. */
  imageSize: number;
  /** Every module with weights, by name (checkpoints, parameter counts). */
  modules: Record<string, Module>;
  optimizer: Optimizer;
  /**
   * Extra state for checkpoints (memory bank, queue, momentum-encoder count, NCE normaliser,
   * RNG states): JSON values, Float32Array and Int32Array. Called between two steps (the step
   * stream is paused), so it may wait, e.g. for pending bank updates. On resume it comes back
   * as `ctx.restoredState`.
   */
  state?(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * Whether a checkpoint continues this graph exactly (default true): batches keep the source
   * order, so a step report's `lastIndex` locates the stream, and `state()` holds all other
   * state. A graph that regroups or resamples the source (temporal tuples) sets false: a
   * resume then restarts the source after the `images` the steps consumed, with fresh sampler
   * state (weights, optimizer and `state()` are still restored).
   */
  resumeExact?: boolean;
  dispose(): void;
}

export interface PipelineDefinition<C extends object = Record<string, unknown>> {
  /** Built-in name, e.g. 'simclr'. */
  name: string;
  /** Paper citation. */
  paper: string;
  /** One line for `contrastream list`. */
  summary: string;
  /** The paper's defaults (adapted to small images where the file says so). */
  defaults: C;
  /** Builds models and the training graph. `config` is `defaults` merged with overrides. */
  create(config: C, ctx: PipelineContext): PipelineInstance;
}

/** Identity helper that keeps the config type. */
export function definePipeline<C extends object>(def: PipelineDefinition<C>): PipelineDefinition<C> {
  return def;
}
