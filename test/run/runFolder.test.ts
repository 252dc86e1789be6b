/**
 * The run folder of runPipeline({ outDir }) and loadEncoder: config.json, metrics.jsonl (step,
 * knn and final lines), periodic checkpoints with keep-last-K, weights/ + pipeline.json, and
 * embedding.json (the 2-D PCA of the final encoder's test features). loadEncoder gives the
 * same features from the run folder, the weights folder and the final checkpoint.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { listCheckpoints } from '../../src/run/checkpoint.ts';
import { loadRun } from '../../src/run/RunFolder.ts';
import { loadEncoder } from '../../src/run/loadEncoder.ts';
import { openDataset } from '../../src/pipeline/openDataset.ts';
import { collectImages } from '../../src/eval/collectImages.ts';
import { encodeImages } from '../../src/eval/encodeImages.ts';
import { createAugmentPool } from '../../src/augment/createAugmentPool.ts';
import { pca2d } from '../../src/eval/pca2d.ts';
import simclr from '../../pipelines/simclr.ts';
import { writeTinyIdx } from './support.ts';

const sink = { write: () => true } as unknown as NodeJS.WriteStream;
let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-runfolder-'));
  data = writeTinyIdx(path.join(dir, 'data'), 32, 16, 16);
  if (activeBackend() === undefined) await initBackend({ log: null });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run folder', () => {
  it('writes config, metrics, checkpoints, weights and the embedding; loadEncoder reads them back', async () => {
    const runDir = path.join(dir, 'run');
    const overrides = { imageSize: 16, headHiddenDim: 32, projectionDim: 16 };
    const r = await runPipeline(simclr, {
      data,
      epochs: 3,
      batchSize: 8,
      seed: 5,
      overrides,
      outDir: runDir,
      checkpointEvery: 3,
      keepCheckpoints: 2,
      workers: 1,
      stream: sink,
      handleSignals: false,
    });
    expect(r.steps).toBe(12);
    expect(r.runDir).toBe(runDir);

    const info = await loadRun(runDir);
    expect(info.pipeline).toBe('simclr');
    expect(info.version).toBe(1);
    expect(info.config).toMatchObject({ ...overrides, batchSize: 8, temperature: simclr.defaults.temperature });
    expect(info.run).toMatchObject({ data, epochs: 3, batchSize: 8, seed: 5, checkpointEvery: 3, stepsPerEpoch: 4, totalSteps: 12 });
    expect(info.run.dataset).toMatchObject({ size: 32, channels: 1, height: 16 });

    const lines = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const metrics = lines.map((l) => JSON.parse(l) as Record<string, number | string>);
    for (const l of lines) expect(l.startsWith('{"type":')).toBe(true);
    const steps = metrics.filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(Object.keys(steps[0])).toEqual(['type', 'step', 'epoch', 'loss', 'lr', 'imagesPerSecond', 'time']);
    expect(steps.map((m) => m.epoch)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(steps.every((m) => Number.isFinite(m.loss) && (m.imagesPerSecond as number) > 0)).toBe(true);
    const knn = metrics.filter((m) => m.type === 'knn');
    expect(knn.map((m) => [m.epoch, m.step])).toEqual([[1, 4], [2, 8]]); // monitor after epochs 1 and 2; the final evaluation covers epoch 3
    const final = metrics.at(-1) as Record<string, number>;
    expect(final).toMatchObject({ type: 'final', steps: 12, knnTop1: r.knnTop1, rawKnnTop1: r.rawKnnTop1 });

    expect((await listCheckpoints(runDir)).map((c) => c.step)).toEqual([9, 12]);

    // embedding.json: PCA of the final encoder's features of the test images.
    const embedding = JSON.parse(readFileSync(path.join(runDir, 'embedding.json'), 'utf8')) as { labels: number[]; points: [number, number][]; method: string };
    expect(embedding.method).toBe('pca');
    expect(embedding.labels.length).toBe(16);
    expect(embedding.points.length).toBe(16);

    const before = tf.memory().numTensors;
    const fromRun = await loadEncoder(runDir);
    expect(fromRun.source).toBe(path.join(runDir, 'weights'));
    expect([fromRun.imageSize, fromRun.channels, fromRun.pipeline]).toEqual([16, 1, 'simclr']);
    const fromWeights = await loadEncoder(path.join(runDir, 'weights'));
    const pool = createAugmentPool({ size: 1 });
    const dataset = await openDataset(data);
    const test = await collectImages(dataset.test!({}), 16, pool);
    await pool.destroy();
    const fa = encodeImages(test, (x) => fromRun.features(x));
    const fb = encodeImages(test, (x) => fromWeights.features(x));
    const a = fa.dataSync();
    expect(Array.from(fb.dataSync())).toEqual(Array.from(a));
    const want = pca2d(fa).points;
    embedding.points.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(want[i][0], 4);
      expect(p[1]).toBeCloseTo(want[i][1], 4);
    });
    expect(embedding.labels).toEqual(Array.from(test.labels));
    tf.dispose([fa, fb]);
    fromRun.dispose();
    fromWeights.dispose();

    // Without weights/, the run folder loads from its final checkpoint: the same encoder.
    renameSync(path.join(runDir, 'weights'), path.join(dir, 'weights-moved'));
    const fromCkpt = await loadEncoder(runDir);
    expect(fromCkpt.source).toBe(path.join(runDir, 'checkpoints', 'step-12'));
    const fc = encodeImages(test, (x) => fromCkpt.features(x));
    expect(Array.from(fc.dataSync())).toEqual(Array.from(a));
    fc.dispose();
    fromCkpt.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
