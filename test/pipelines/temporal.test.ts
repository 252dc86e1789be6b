import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, toArray } from 'rxjs';
import cpc, { CPC_DEFAULTS, type CpcConfig } from '../../pipelines/cpc.ts';
import temporal, { temporalBatchMask, temporalLoss, TEMPORAL_DEFAULTS, type TemporalConfig } from '../../pipelines/temporal.ts';
import { temporalPositives, type TemporalTuple } from '../../src/operators/temporalPositives.ts';
import { augmentInPool } from '../../src/operators/augmentInPool.ts';
import { simclr as simclrAugment } from '../../src/augment/presets.ts';
import { defaultNormalization } from '../../src/pipeline/buildEncoder.ts';
import { deferBufferUpdates } from '../../src/models/bufferUpdates.ts';
import type { AugmentPool } from '../../src/augment/createAugmentPool.ts';
import type { Module } from '../../src/models/module.ts';
import { from } from 'rxjs';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { registerGradients } from '../../src/train/registerGradients.ts';
import { createAugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromVideoFile } from '../../src/sources/fromVideoFile.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import type { DataSource } from '../../src/sources/DataSource.ts';
import { openDataset } from '../../src/pipeline/openDataset.ts';
import type { SourceItem } from '../../src/data.ts';
import type { StepReport } from '../../src/pipeline/PipelineDefinition.ts';
import { ffmpegAvailable, makeVideo, tempDir } from '../sources/videoFixtures.ts';

const hasFfmpeg = ffmpegAvailable();
let dir: string;
let files: string[] = [];

beforeAll(() => {
  if (!hasFfmpeg) return;
  dir = tempDir();
  files = [0, 1, 2, 3].map((v) => makeVideo(dir, `shapes${v}.mp4`, { seconds: 3, fps: 10, width: 32, height: 32, kind: 'shapes', variant: v }));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pos = (videoId: string, frameIndex: number) => ({ videoId, frameIndex, timestampMs: 100 * frameIndex });

describe('temporalBatchMask', () => {
  it('masks batch entries inside the anchor window and the anchor itself, keeps the rest', () => {
    // tuples [anchor, positive]
    const tuples = [
      [pos('a', 10), pos('a', 12)],
      [pos('a', 13), pos('a', 11)], // within 3 of tuple 0's anchor
      [pos('a', 30), pos('a', 31)], // far in the same video
      [pos('b', 10), pos('b', 9)], // another video
    ];
    const n = 4;
    const m = temporalBatchMask(tuples, 0, { frames: 3 });
    const at = (i: number, c: number) => m[i * 2 * n + c];
    // anchor 0 against positives: own positive kept, tuple 1's positive (a/11) inside -> masked
    expect([at(0, 0), at(0, 1), at(0, 2), at(0, 3)]).toEqual([0, -1e9, 0, 0]);
    // anchor 0 against anchors: itself masked, a/13 inside (distance 3) masked, far and other video kept
    expect([at(0, 4), at(0, 5), at(0, 6), at(0, 7)]).toEqual([-1e9, -1e9, 0, 0]);
    // anchor 3 (video b): every video-a column is a negative
    expect([at(3, 0), at(3, 1), at(3, 2), at(3, 4), at(3, 5), at(3, 6), at(3, 7)]).toEqual([0, 0, 0, 0, 0, 0, -1e9]);
  });
});

describe.skipIf(!hasFfmpeg)('pipelines/temporal', () => {
  /** A fixed evaluation batch: 24 tuples spread over the videos, augmented as in training. */
  async function fixedBatch(pool: AugmentPool, config: TemporalConfig) {
    const all = await lastValueFrom(fromVideoFile(files, { fps: 10, concurrency: 4 }).pipe(temporalPositives({ window: { frames: config.windowFrames }, seed: 9 }), toArray()));
    const chosen: TemporalTuple[] = all.filter((_, i) => i % 5 === 0).slice(0, 24);
    const samples = chosen.flatMap((t, i) => [t.anchor, t.positives[0]].map((f, s) => ({ index: 2 * i + s, epoch: 0, pixels: f.pixels, width: f.width, height: f.height, channels: f.channels })));
    const { mean, std } = defaultNormalization(3);
    const augment = simclrAugment({ size: config.imageSize!, scale: config.cropScale, strength: config.colorStrength, mean, std, views: 1 });
    const out = await lastValueFrom(from(samples).pipe(augmentInPool({ pool, seed: 4242, augment }), toArray()));
    const s = config.imageSize!;
    const data = new Float32Array(out.length * s * s * 3);
    out.forEach((o, i) => data.set(o.views[0].data as Float32Array, i * s * s * 3));
    return { x: tf.tensor4d(data, [out.length, s, s, 3]), tuples: chosen.map((t) => [t.anchor, t.positives[0]]) };
  }

  function lossOn(models: { encoder: Module; head: Module }, batch: Awaited<ReturnType<typeof fixedBatch>>, config: TemporalConfig): number {
    const { result, pending } = deferBufferUpdates(() => temporalLoss(models, batch.x, batch.tuples, { window: { frames: config.windowFrames }, extraPositives: 0, negatives: 0, temperature: config.temperature }));
    pending.discard(); // evaluation must not move the BN statistics
    const v = result.dataSync()[0];
    result.dispose();
    return v;
  }

  async function train(overrides: Partial<TemporalConfig>, epochs: number, videos = files) {
    if (activeBackend() === undefined) await initBackend({ log: null });
    await registerGradients();
    const pool = createAugmentPool({ size: 1 });
    // the defaults (augmentation, lr, temperature, warmup), at a size a test affords
    const config: TemporalConfig = { ...TEMPORAL_DEFAULTS, imageSize: 16, batchSize: 12, headHiddenDim: 64, projectionDim: 32, ...overrides };
    const k = 2 + config.extraPositives + config.negatives;
    const frames = videos.length * 30;
    const stepsPerEpoch = Math.floor(frames / config.batchSize);
    const before = tf.memory().numTensors;
    const batch = await fixedBatch(pool, config);
    const source = fromVideoFile(videos, { fps: 10, concurrency: 4, epochs, shuffle: true, seed: 1 }) as unknown as DataSource<SourceItem>;
    const inst = temporal.create(config, {
      source,
      pool,
      seed: 0,
      dataset: { name: 'shapes', size: frames, height: 32, width: 32, channels: 3 },
      stepsPerEpoch,
      totalSteps: stepsPerEpoch * epochs,
    });
    const models = { encoder: inst.modules.encoder, head: inst.modules.head };
    try {
      const fixedBefore = lossOn(models, batch, config);
      const reports: StepReport[] = await lastValueFrom(inst.steps.pipe(toArray()));
      const fixedAfter = lossOn(models, batch, config);
      const afterTraining = tf.memory().numTensors;
      const x = tf.randomUniform([3, 16, 16, 3]) as tf.Tensor4D;
      const feats = inst.features(x);
      const shape = feats.shape;
      tf.dispose([x, feats]);
      return { reports, shape, k, afterTraining, afterEval: tf.memory().numTensors, before, fixedBefore, fixedAfter };
    } finally {
      inst.dispose();
      batch.x.dispose();
      await pool.destroy();
    }
  }

  it('trains on generated video: finite, decreasing loss, no tensor leak', async () => {
    const r = await train({}, 2);
    // 4 videos x 30 frames = 120 anchors per epoch, 12 tuples per batch
    expect(r.reports.length).toBeGreaterThanOrEqual(18); // a short batch at each epoch change is dropped
    for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
    expect(r.reports[0].images).toBe(12);
    // the loss of a fixed batch (same frames, same augmentation) before vs after training
    expect(r.fixedAfter).toBeLessThan(r.fixedBefore - 0.3); // measured with the defaults, 2 epochs: 3.51-3.54 -> 2.42-2.53
    expect(r.shape).toEqual([3, 128]);
    expect(r.afterEval).toBe(r.afterTraining);
    expect(tf.memory().numTensors).toBe(r.before);
  });

  it('runs with extra positives and explicit negatives', async () => {
    const r = await train({ extraPositives: 1, negatives: 2, batchSize: 5 }, 1, files.slice(0, 1));
    expect(r.k).toBe(5);
    expect(r.reports.length).toBe(6); // one epoch: 30 tuples / 5
    for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
  });

  it('cpc accepts a video source: sequences of frames, the future predicted from the past', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    await registerGradients();
    const pool = createAugmentPool({ size: 1 });
    const epochs = 3;
    const config: CpcConfig = { ...CPC_DEFAULTS, imageSize: 16, batchSize: 4, sequenceLength: 5, offsets: [1, 2], contextDim: 32, contextLayers: 1, warmupEpochs: 0 };
    // 2 videos x 30 frames -> 12 sequences of 5 per epoch -> 3 steps of 4 sequences
    const before = tf.memory().numTensors;
    const inst = cpc.create(config, {
      source: fromVideoFile(files.slice(0, 2), { fps: 10, epochs, concurrency: 2 }) as unknown as DataSource<SourceItem>,
      pool,
      seed: 0,
      dataset: { name: 'shapes', size: 60, height: 32, width: 32, channels: 3 },
      stepsPerEpoch: 3,
      totalSteps: 3 * epochs,
    });
    try {
      const reports = await lastValueFrom(inst.steps.pipe(toArray()));
      expect(reports.length).toBe(9);
      expect(reports[0].images).toBe(4);
      for (const r of reports) expect(Number.isFinite(r.loss)).toBe(true);
      // the k-step InfoNCE over 4 sequences x (5 - k) steps starts near log(R) and goes down
      expect(reports[0].loss).toBeGreaterThan(1.5);
      expect(Math.min(...reports.slice(-3).map((r) => r.loss))).toBeLessThan(reports[0].loss);
      const x = tf.randomUniform([2, 16, 16, 3]) as tf.Tensor4D;
      const feats = inst.features(x);
      expect(feats.shape).toEqual([2, 32]); // features 'c': the context width
      tf.dispose([x, feats]);
    } finally {
      inst.dispose();
      await pool.destroy();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => cpc.create({ ...config, offsets: [5] }, { source: fromArrays({ images: new Uint8Array(64), width: 8, height: 8, channels: 1 }), pool, seed: 0, dataset: { name: 'x', size: 1, height: 8, width: 8, channels: 1 }, stepsPerEpoch: 1, totalSteps: 1 })).toThrow(/config\.offsets/);
  });

  it('openDataset opens a folder of videos as frames (contrastream run temporal --data DIR)', async () => {
    const ds = await openDataset(dir);
    expect(ds.format).toBe('video');
    expect(ds.labelled).toBe(false);
    expect(ds.trainSize).toBe(4 * 30); // 3 s at VIDEO_DATA_FPS = 10
    expect([ds.width, ds.height, ds.channels]).toEqual([32, 32, 3]);
    const frames = await lastValueFrom(ds.train({ epochs: 1 }).pipe(toArray()));
    expect(frames.length).toBe(120);
    expect(new Set(frames.map((f) => (f as { videoId?: string }).videoId)).size).toBe(4);
  });

  it('resume continues a video run from the frame after the tuples trained, to the end of the plan', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    await registerGradients();
    const sink = { write: () => true } as unknown as NodeJS.WriteStream;
    const out = join(dir, 'run');
    const common = { workers: 1, stream: sink, monitorEvery: 0, handleSignals: false, keepCheckpoints: 0 };
    // 4 videos x 30 frames, 8 tuples per step: 15 steps in the epoch
    const half = await runPipeline(temporal, { ...common, data: dir, epochs: 1, overrides: { imageSize: 16, batchSize: 8, headHiddenDim: 32, projectionDim: 16 }, outDir: out, stopAfterStep: 5 });
    expect(half.interrupted).toBe(true);
    expect(half.steps).toBe(5);
    const rest = await runPipeline(temporal, { ...common, resumeFrom: out });
    // the source restarts at frame 40 of 120 (5 steps x 8 tuples), not at video 40 of 4 (the plan's
    // end, which trained nothing more); the sampler restarts empty, so a step may be lost at the end
    expect(rest.interrupted ?? false).toBe(false);
    expect(rest.steps).toBeGreaterThanOrEqual(14);
    expect(rest.steps).toBeLessThanOrEqual(15);
  });

  it('ends the run with an ArgumentError when the source does not emit frames', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const pool = createAugmentPool({ size: 1 });
    const inst = temporal.create({ ...TEMPORAL_DEFAULTS, imageSize: 8, batchSize: 2 }, {
      source: fromArrays({ images: new Uint8Array(4 * 64), width: 8, height: 8, channels: 1 }),
      pool,
      seed: 0,
      dataset: { name: 'images', size: 4, height: 8, width: 8, channels: 1 },
      stepsPerEpoch: 1,
      totalSteps: 1,
    });
    try {
      await expect(lastValueFrom(inst.steps)).rejects.toThrow(/must be a Frame/);
    } finally {
      inst.dispose();
      await pool.destroy();
    }
  });
});
