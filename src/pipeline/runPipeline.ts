/**
 * Runs a pipeline definition end to end: backend, dataset, training graph with progress, a
 * kNN monitor between epochs, and a final weighted-kNN evaluation next to the raw-pixel
 * baseline.
 *
 * With `outDir` it keeps a run folder (see src/run/RunFolder.ts): config.json at start,
 * metrics.jsonl per step, checkpoints every `checkpointEvery` steps, at the end and on
 * SIGINT/SIGTERM (at the next step boundary; the run then returns `interrupted: true`), and at
 * the end weights/ and embedding.json. `resumeFrom` continues a run folder exactly from its
 * latest checkpoint: weights, optimizer state and LR schedule position, the pipeline's state
 * (memory bank, queue, momentum encoder, RNG states), and the data stream from the first
 * sample not yet trained on (augmentations are keyed by (seed, epoch, sample), so they repeat).
 *
 * Checkpoints are taken between two steps: the step stream is paused (subscribeGated) while
 * the state is read and written, so nothing of step N + 1 is in them. A diverged step
 * (DivergenceError) ends the run before any later checkpoint; checkpoints with non-finite
 * weights are refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import path from 'node:path';
import type { Subscription } from 'rxjs';
import { initBackend, activeBackend, type BackendInfo } from '../backend/initBackend.ts';
import { registerGradients } from '../train/registerGradients.ts';
import { createAugmentPool, type AugmentPool } from '../augment/createAugmentPool.ts';
import { openDataset, type OpenedDataset } from './openDataset.ts';
import type { DatasetInfo, PipelineDefinition, PipelineInstance, StepReport } from './PipelineDefinition.ts';
import { ModuleBundle } from './buildEncoder.ts';
import { collectImages, type ImageSet } from '../eval/collectImages.ts';
import { encodeImages, rawPixelFeatures } from '../eval/encodeImages.ts';
import { knnClassify } from '../eval/knnClassify.ts';
import { pca2d } from '../eval/pca2d.ts';
import { Progress } from '../cli/progress.ts';
import { ArgumentError, CheckpointError } from '../errors.ts';
import { subscribeGated, type PushGate } from '../sources/DataSource.ts';
import { epochOrder, resolveSubset, type SourceConfig } from '../internal/sourcePlan.ts';
import { saveWeights } from '../models/saveWeights.ts';
import { latestCheckpoint, readCheckpoint, writeCheckpoint, type Checkpoint } from '../run/checkpoint.ts';
import { restoreModules, snapshotModules } from '../run/moduleState.ts';
import { CONFIG_JSON, EMBEDDING_JSON, MetricsWriter, PIPELINE_JSON, WEIGHTS_DIR, loadRun, truncateMetrics, writeJsonAtomic, type RunInfo } from '../run/RunFolder.ts';

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
  /** The run folder (config.json, metrics.jsonl, checkpoints/, weights/, embedding.json). Default: none (or `resumeFrom`). */
  outDir?: string;
  /** What config.json records as `pipeline`: a built-in name or module path. Default `def.name`. */
  pipelineName?: string;
  /** Checkpoint every N steps; 0 = only at the end and on signals. Default 0. */
  checkpointEvery?: number;
  /** Keep the newest K checkpoints (0 = all). Default 3. */
  keepCheckpoints?: number;
  /**
   * A run folder to continue exactly from its latest checkpoint. Run options and config come
   * from its config.json unless given here. Output goes to the same folder unless `outDir`.
   */
  resumeFrom?: string;
  /** On SIGINT/SIGTERM: checkpoint at the next step boundary and return `interrupted`. Default: true with a run folder. */
  handleSignals?: boolean;
  /** Stop after this step as on a signal (checkpoint with a run folder, `interrupted: true`). */
  stopAfterStep?: number;
}

export interface RunResult {
  backend: BackendInfo;
  config: Record<string, unknown>;
  /** Number of the last step trained (counting the steps before a resume). */
  steps: number;
  finalLoss: number;
  imagesPerSecond: number;
  /** Final kNN top-1 of the encoder and of raw pixels (undefined without labels or when interrupted). */
  knnTop1?: number;
  rawKnnTop1?: number;
  /** Steps trained by this call. */
  history: StepReport[];
  /** The run folder, when there is one. */
  runDir?: string;
  /** Stopped by a signal or `stopAfterStep` (after a checkpoint when there is a run folder). */
  interrupted?: boolean;
}

interface EvalSets {
  train: ImageSet;
  test: ImageSet;
}

/** Points of the embedding scatter. */
const EMBEDDING_POINTS = 2000;

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

function nonNegativeInt(name: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!(Number.isInteger(x) && x >= 0)) throw new ArgumentError('runPipeline', name, `must be an integer >= 0, got ${x}`);
  return x;
}

/** Pause point of the step stream while a checkpoint is written. */
class StepGate implements PushGate {
  hold: Promise<void> | undefined;
  loops = 0;
  wait(): Promise<void> | undefined {
    return this.hold;
  }
  attached(): void {
    this.loops++;
  }
}

export async function runPipeline<C extends object>(def: PipelineDefinition<C>, options: RunOptions = {}): Promise<RunResult> {
  const out = options.stream ?? process.stdout;
  const say = (l: string) => out.write(`${l}\n`);

  // Resume: the run folder's recorded options, then the caller's.
  let saved: RunInfo | undefined;
  let ckpt: Checkpoint | undefined;
  let ckptDir: string | undefined;
  if (options.resumeFrom !== undefined) {
    ckptDir = (await latestCheckpoint(options.resumeFrom)).dir; // NoCheckpointError first: an empty folder says "no checkpoint"
    saved = await loadRun(options.resumeFrom);
    ckpt = await readCheckpoint(ckptDir);
    if (ckpt.pipeline !== def.name) throw new CheckpointError(ckptDir, `is a checkpoint of pipeline '${ckpt.pipeline}', not '${def.name}'`);
  }
  const rec = (saved?.run ?? {}) as Partial<Record<keyof RunOptions, unknown>>;
  const pick = <K extends keyof RunOptions>(k: K): RunOptions[K] => (options[k] !== undefined ? options[k] : (rec[k] as RunOptions[K]));

  const backend = activeBackend() ?? (await initBackend({ backend: pick('backend'), log: say }));
  await registerGradients();
  const seed = pick('seed') ?? 0;
  const epochs = pick('epochs') ?? 1;
  if (!(Number.isInteger(epochs) && epochs >= 1)) throw new ArgumentError('runPipeline', 'epochs', `must be a positive integer, got ${epochs}`);
  const checkpointEvery = nonNegativeInt('checkpointEvery', pick('checkpointEvery'), 0);
  const keepCheckpoints = nonNegativeInt('keepCheckpoints', pick('keepCheckpoints'), 3);
  const outDir = options.outDir ?? options.resumeFrom;
  const runDir = outDir === undefined ? undefined : path.resolve(outDir);
  const handleSignals = options.handleSignals ?? runDir !== undefined;
  const stopAfterStep = options.stopAfterStep;
  if (stopAfterStep !== undefined && !(Number.isInteger(stopAfterStep) && stopAfterStep >= 1)) {
    throw new ArgumentError('runPipeline', 'stopAfterStep', `must be a positive integer, got ${stopAfterStep}`);
  }

  const dataset: OpenedDataset = await openDataset(pick('data'));
  const trainSubset = pick('trainSubset');
  const trainSize = Math.min(dataset.trainSize, trainSubset ?? Infinity);
  const config = { ...def.defaults, ...(saved?.config ?? {}), ...(options.overrides ?? {}) } as C & { batchSize?: number; imageSize?: number };
  if (options.batchSize !== undefined) config.batchSize = options.batchSize;
  const batchSize = config.batchSize ?? 256;
  const stepsPerEpoch = Math.floor(trainSize / batchSize);
  if (stepsPerEpoch < 1) {
    throw new ArgumentError('runPipeline', 'batchSize', `${batchSize} is larger than the ${trainSize} training samples`);
  }
  const totalSteps = stepsPerEpoch * epochs;
  const datasetInfo: DatasetInfo = {
    name: dataset.root,
    size: trainSize,
    height: dataset.height,
    width: dataset.width,
    channels: dataset.channels,
    ...(dataset.numClasses !== undefined ? { numClasses: dataset.numClasses } : {}),
  };
  const monitorEvery = pick('monitorEvery') ?? 1;
  const runRecord: Record<string, unknown> = {
    data: dataset.root,
    epochs,
    batchSize,
    seed,
    backend: backend.name,
    trainSubset,
    monitorEvery,
    monitorTrain: pick('monitorTrain'),
    monitorTest: pick('monitorTest'),
    evalTrain: pick('evalTrain'),
    evalTest: pick('evalTest'),
    checkpointEvery,
    keepCheckpoints,
    dataset: datasetInfo,
    stepsPerEpoch,
    totalSteps,
  };
  const runInfo: RunInfo = {
    pipeline: options.pipelineName ?? saved?.pipeline ?? def.name,
    config: config as Record<string, unknown>,
    run: JSON.parse(JSON.stringify(runRecord)) as Record<string, unknown>,
    version: 1,
  };
  say(`pipeline: ${def.name} — ${def.paper}`);
  say(`data: ${dataset.root} (${dataset.format}, ${trainSize} train images${dataset.labelled ? ', labelled' : ''})`);
  say(`config: ${JSON.stringify(config)}`);
  if (ckpt !== undefined) say(`resuming from ${ckptDir} (step ${ckpt.step} of ${totalSteps}, epoch ${ckpt.epoch + 1})`);
  let metrics: MetricsWriter | undefined;
  if (runDir !== undefined) {
    await writeJsonAtomic(runDir, CONFIG_JSON, runInfo);
    if (ckpt !== undefined) await truncateMetrics(runDir, ckpt.step);
    metrics = new MetricsWriter(runDir);
    say(`run folder: ${runDir}`);
  }

  const pool: AugmentPool = createAugmentPool({ size: options.workers });
  let instance: PipelineInstance | undefined;
  const gate = new StepGate();
  let stopRequested = false;
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  const removeSignalHandlers = () => {
    for (const [sig, h] of signalHandlers.splice(0)) process.off(sig, h);
  };
  try {
    const startStep = ckpt?.step ?? 0;
    let samplesConsumed = ckpt?.samplesConsumed ?? 0;
    const plan: SourceConfig = { epochs, shuffle: true, seed, subset: trainSubset };
    const source = dataset.train({ ...plan, start: samplesConsumed });
    // Plan position just after sample `index` of `epoch` (batches keep the plan order).
    const base = resolveSubset('runPipeline', dataset.trainSize, plan);
    let inverse: { epoch: number; pos: Int32Array } | undefined;
    const positionAfter = (epoch: number, index: number): number | undefined => {
      if (inverse?.epoch !== epoch) {
        const order = epochOrder(base, epoch, plan);
        const pos = new Int32Array(dataset.trainSize).fill(-1);
        order.forEach((idx, p) => (pos[idx] = p));
        inverse = { epoch, pos };
      }
      const p = index >= 0 && index < inverse.pos.length ? inverse.pos[index] : -1;
      return p < 0 ? undefined : epoch * base.length + p + 1;
    };
    instance = def.create(config, {
      source,
      trainOnce: () => dataset.train({ subset: trainSubset }),
      pool,
      seed,
      dataset: datasetInfo,
      stepsPerEpoch,
      totalSteps,
      firstStep: startStep + 1,
      ...(ckpt?.state !== undefined ? { restoredState: ckpt.state } : {}),
    });
    const inst = instance;
    const exact = inst.resumeExact !== false;
    if (ckpt !== undefined && !exact) say(`note: ${def.name} resumes approximately (its data sampler's state is not checkpointed); weights, optimizer and schedule continue exactly`);
    if (ckpt !== undefined) {
      restoreModules(inst.modules, ckpt.modules, ckptDir as string);
      if (ckpt.optimizer !== undefined) inst.optimizer.setState(ckpt.optimizer);
    }

    // Evaluation images, decoded once at the encoder's input size.
    let evalSets: EvalSets | undefined;
    if (dataset.labelled && dataset.test !== undefined) {
      evalSets = {
        train: await collectImages(dataset.train({ subset: pick('evalTrain') }), inst.imageSize, pool),
        test: await collectImages(dataset.test({ subset: pick('evalTest') }), inst.imageSize, pool),
      };
    }
    const monitorSets = evalSets && {
      train: sliceSet(evalSets.train, pick('monitorTrain') ?? 5000),
      test: sliceSet(evalSets.test, pick('monitorTest') ?? 1000),
    };

    const progress = new Progress({ total: totalSteps, stepsPerEpoch, stream: out, startStep });
    // A checkpoint of the state right now (between two steps).
    let lastSaved = startStep;
    let lastStep = startStep;
    let lastEpoch = ckpt?.epoch ?? 0;
    const checkpointNow = async (): Promise<void> => {
      if (runDir === undefined) return;
      const step = lastStep;
      const modules = snapshotModules(inst.modules);
      const optimizer = inst.optimizer.getState();
      const pending = inst.state?.();
      if (pending instanceof Promise && gate.loops === 0) {
        throw new CheckpointError(runDir, `pipeline '${def.name}' has an asynchronous state() but its step stream cannot be paused (the training operator's upstream is not a DataSource)`);
      }
      const state = await pending;
      metrics?.flush();
      const dir = await writeCheckpoint(
        runDir,
        { step, epoch: lastEpoch, samplesConsumed, pipeline: def.name, modules, optimizer, ...(state !== undefined ? { state } : {}), time: Date.now() },
        { keep: keepCheckpoints },
      );
      lastSaved = step;
      const shown = path.relative(process.cwd(), dir);
      progress.log(`checkpoint: step ${step} -> ${shown.startsWith('..') || shown === '' ? dir : shown}`);
    };

    if (handleSignals) {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        const h = () => {
          if (stopRequested) {
            // Second signal: give up waiting for the step boundary.
            removeSignalHandlers();
            process.kill(process.pid, sig);
            return;
          }
          stopRequested = true;
          progress.log(`${sig}: stopping after the current step${runDir !== undefined ? ' (with a checkpoint)' : ''}; send it again to stop at once`);
        };
        process.on(sig, h);
        signalHandlers.push([sig, h]);
      }
    }

    const history: StepReport[] = [];
    let lastEpochDone = Math.floor(startStep / stepsPerEpoch) - 1;
    const outcome = await new Promise<'done' | 'interrupted'>((resolve, reject) => {
      let sub: Subscription | undefined;
      let finished = false;
      const end = (how: 'done' | 'interrupted' | { error: unknown }) => {
        if (finished) return;
        finished = true;
        sub?.unsubscribe();
        if (typeof how === 'object') reject(how.error);
        else resolve(how);
      };
      const onStep = (r: StepReport) => {
        history.push(r);
        // Where the data stream stands; without sample indices, count the batch's images.
        samplesConsumed = (r.lastIndex !== undefined && exact ? positionAfter(r.epoch, r.lastIndex) : undefined) ?? samplesConsumed + r.images;
        lastStep = r.step;
        lastEpoch = r.epoch;
        progress.update(r.step, r.epoch, r.loss, r.images);
        metrics?.append({ type: 'step', step: r.step, epoch: r.epoch, loss: r.loss, lr: r.lr, imagesPerSecond: progress.rate, time: Date.now() });
        const epochDone = Math.floor(r.step / stepsPerEpoch) - 1;
        if (epochDone > lastEpochDone && r.step % stepsPerEpoch === 0) {
          lastEpochDone = epochDone;
          if (monitorSets && monitorEvery > 0 && (epochDone + 1) % monitorEvery === 0 && r.step < totalSteps) {
            const acc = knnTop1(monitorSets, (x) => inst.features(x), dataset.numClasses);
            metrics?.append({ type: 'knn', epoch: epochDone + 1, step: r.step, top1: acc });
            progress.log(`epoch ${epochDone + 1}: kNN top-1 ${(acc * 100).toFixed(2)}% (monitor: ${monitorSets.train.count} bank / ${monitorSets.test.count} test)`);
          }
        }
        const stop = stopRequested || (stopAfterStep !== undefined && r.step >= stopAfterStep);
        const due = runDir !== undefined && (stop || (checkpointEvery > 0 && r.step % checkpointEvery === 0));
        if (!due) {
          if (stop) end('interrupted');
          return;
        }
        // Pause the stream (the next step waits for the gate), save, then go on or stop.
        gate.hold = checkpointNow().then(
          () => {
            gate.hold = undefined;
            if (stop) end('interrupted');
          },
          (error: unknown) => {
            gate.hold = undefined;
            end({ error });
          },
        );
      };
      sub = subscribeGated(inst.steps, gate, {
        next: (r) => {
          try {
            onStep(r);
          } catch (error) {
            end({ error });
          }
        },
        error: (error: unknown) => end({ error }),
        complete: () => {
          // A checkpoint of the last step may still be being written.
          void Promise.resolve(gate.hold).then(() => end('done'));
        },
      });
      if (finished) sub.unsubscribe();
    });
    if (gate.hold !== undefined) await gate.hold;
    removeSignalHandlers();

    const result: RunResult = {
      backend,
      config: config as Record<string, unknown>,
      steps: lastStep,
      finalLoss: history.at(-1)?.loss ?? NaN,
      imagesPerSecond: progress.rate,
      history,
      ...(runDir !== undefined ? { runDir } : {}),
    };
    if (outcome === 'interrupted') {
      result.interrupted = true;
      say(`stopped after step ${lastStep} of ${totalSteps}${runDir !== undefined ? `; resume with: contrastream resume ${runDir}` : ''}`);
      return result;
    }
    if (runDir !== undefined && lastSaved !== lastStep) await checkpointNow();

    if (evalSets) {
      result.knnTop1 = knnTop1(evalSets, (x) => inst.features(x), dataset.numClasses);
      result.rawKnnTop1 = knnTop1(evalSets, rawPixelFeatures, dataset.numClasses);
      say(
        `kNN top-1 (k=200, tau=0.1, ${evalSets.train.count} bank / ${evalSets.test.count} test): ` +
          `encoder ${(result.knnTop1 * 100).toFixed(2)}% | raw pixels ${(result.rawKnnTop1 * 100).toFixed(2)}%`,
      );
    }
    if (runDir !== undefined) {
      metrics?.append({ type: 'final', knnTop1: result.knnTop1 ?? null, rawKnnTop1: result.rawKnnTop1 ?? null, imagesPerSecond: result.imagesPerSecond, steps: lastStep });
      metrics?.flush();
      const weightsDir = path.join(runDir, WEIGHTS_DIR);
      await saveWeights(new ModuleBundle(inst.modules), weightsDir, { metadata: { pipeline: runInfo.pipeline, step: lastStep } }); // bundle not disposed: the instance owns the modules
      await writeJsonAtomic(weightsDir, PIPELINE_JSON, runInfo);
      const points = evalSets ? sliceSet(evalSets.test, EMBEDDING_POINTS) : await collectImages(dataset.train({ subset: EMBEDDING_POINTS }), inst.imageSize, pool);
      const feats = encodeImages(points, (x) => inst.features(x));
      try {
        const { points: xy } = pca2d(feats);
        await writeJsonAtomic(runDir, EMBEDDING_JSON, { labels: Array.from(points.labels), points: xy, method: 'pca' });
      } finally {
        feats.dispose();
      }
    }
    return result;
  } finally {
    removeSignalHandlers();
    metrics?.flush();
    instance?.dispose();
    await pool.destroy();
  }
}
