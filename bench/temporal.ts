/**
 * Near-vs-far ranking of a temporally trained encoder (pipelines/temporal.ts), against the same
 * encoder at random initialisation and against raw pixels, all measured in the same run.
 *
 * Data: videos of moving shapes generated with ffmpeg (lavfi) at run time: a square sliding and
 * bobbing over a background whose hue drifts with time; 8 training videos, 4 held out (other
 * variants: colours, speed, phase). For every frame t of a video (the anchor), a near frame
 * (t +- 1..nearMax) and a far frame (|dt| >= farMin) of the same video are drawn; the score is
 * the share of anchors whose cosine similarity to the near frame beats the far one's.
 *
 *   node --import tsx bench/temporal.ts [--epochs 6] [--seeds 1] [--config '{"lr":0.5}']
 *
 * `--config` overrides TEMPORAL_DEFAULTS (JSON), to compare settings against the defaults.
 */
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, toArray } from 'rxjs';
import temporal, { TEMPORAL_DEFAULTS, type TemporalConfig } from '../pipelines/temporal.ts';
import { initBackend } from '../src/backend/initBackend.ts';
import { registerGradients } from '../src/train/registerGradients.ts';
import { createAugmentPool } from '../src/augment/createAugmentPool.ts';
import { fromVideoFile } from '../src/sources/fromVideoFile.ts';
import type { Frame } from '../src/sources/FrameSource.ts';
import type { DataSource } from '../src/sources/DataSource.ts';
import type { SourceItem } from '../src/data.ts';
import { Rng } from '../src/internal/prng.ts';
import { makeVideo, tempDir } from '../test/sources/videoFixtures.ts';
import { from } from 'rxjs';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { simclr as simclrAugment } from '../src/augment/presets.ts';
import { nViews, normalize, resize } from '../src/augment/spec.ts';
import { defaultNormalization } from '../src/pipeline/buildEncoder.ts';
import type { AugmentPool } from '../src/augment/createAugmentPool.ts';
import type { Module } from '../src/models/module.ts';
import type { Sample } from '../src/data.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const EPOCHS = arg('epochs', 6);
const SEEDS = arg('seeds', 1);
const SECONDS = arg('seconds', 4);
const OVERRIDES: Partial<TemporalConfig> = (() => {
  const i = process.argv.indexOf('--config');
  return i >= 0 ? (JSON.parse(process.argv[i + 1]) as Partial<TemporalConfig>) : {};
})();
const FPS = 10;
const SIZE = 32;
const IMAGE = 24;
const NEAR_MAX = 2;
const FAR_MIN = 15;

async function frames(files: string[]): Promise<Frame[]> {
  return lastValueFrom(fromVideoFile(files, { fps: FPS, size: { width: SIZE, height: SIZE } }).pipe(toArray()));
}

/** Anchor / near / far triples of frame positions, one per anchor frame that has both. */
function triples(fs: Frame[], seed: number): [number, number, number][] {
  const byVideo = new Map<string, number[]>();
  fs.forEach((f, i) => byVideo.set(f.videoId, [...(byVideo.get(f.videoId) ?? []), i]));
  const rng = new Rng(seed, 77);
  const out: [number, number, number][] = [];
  for (const idx of byVideo.values()) {
    for (let t = 0; t < idx.length; t++) {
      const near: number[] = [];
      const far: number[] = [];
      for (let u = 0; u < idx.length; u++) {
        const d = Math.abs(u - t);
        if (d >= 1 && d <= NEAR_MAX) near.push(u);
        if (d >= FAR_MIN) far.push(u);
      }
      if (near.length === 0 || far.length === 0) continue;
      out.push([idx[t], idx[near[rng.int(0, near.length)]], idx[far[rng.int(0, far.length)]]]);
    }
  }
  return out;
}

/**
 * The triples' frames as independently augmented views (the training augmentation: random
 * crop, flip, colour jitter, grey), normalised: [3T, S, S, 3] in order (anchor, near, far)*.
 * With `augment: false`, the frames resized only.
 */
async function views(fs: Frame[], trip: [number, number, number][], pool: AugmentPool, augment: boolean, config: TemporalConfig): Promise<tf.Tensor4D> {
  const { mean, std } = defaultNormalization(3);
  const samples: Sample[] = trip.flatMap((t, i) => t.map((j, s) => ({ index: 3 * i + s, epoch: 0, pixels: fs[j].pixels, width: SIZE, height: SIZE, channels: 3 })));
  const spec = augment
    ? simclrAugment({ size: IMAGE, scale: config.cropScale, strength: config.colorStrength, mean, std, views: 1 })
    : nViews(1, [resize(IMAGE), normalize(mean, std)]);
  const out = await lastValueFrom(from(samples).pipe(augmentInPool({ pool, seed: 12345, augment: spec }), toArray()));
  const data = new Float32Array(out.length * IMAGE * IMAGE * 3);
  out.forEach((o, i) => data.set(o.views[0].data as Float32Array, i * IMAGE * IMAGE * 3));
  return tf.tensor4d(data, [out.length, IMAGE, IMAGE, 3]);
}

/** Share of triples whose near view is more similar to the anchor view than the far view. */
function nearOverFar(encoder: Module | null, x: tf.Tensor4D): number {
  const sims = tf.tidy(() => {
    const n = x.shape[0] / 3;
    const feats = encoder === null ? tf.reshape(x, [x.shape[0], -1]) : (encoder.forward(x, { training: false }) as tf.Tensor2D);
    const z = tf.reshape(tf.div(feats, tf.add(tf.norm(feats, 2, 1, true), 1e-8)), [n, 3, -1]); // [T, 3, D]
    const [a, near, far] = tf.split(z, 3, 1).map((t) => tf.squeeze(t, [1]));
    return tf.stack([tf.sum(tf.mul(a, near), 1), tf.sum(tf.mul(a, far), 1)], 1); // [T, 2]
  });
  const s = sims.arraySync() as number[][];
  sims.dispose();
  return s.filter(([near, far]) => near > far).length / s.length;
}

async function main() {
  const info = await initBackend({ log: null });
  await registerGradients();
  const dir = tempDir('contrastream-bench-temporal-');
  try {
    const train = Array.from({ length: 8 }, (_, v) => makeVideo(dir, `train${v}.mp4`, { seconds: SECONDS, fps: 25, width: SIZE, height: SIZE, kind: 'shapes', variant: v }));
    const held = Array.from({ length: 4 }, (_, v) => makeVideo(dir, `held${v}.mp4`, { seconds: SECONDS, fps: 25, width: SIZE, height: SIZE, kind: 'shapes', variant: 8 + v }));
    const trainFrames = await frames(train);
    const heldFrames = await frames(held);
    console.log(`backend ${info.name}; ${train.length} training videos, ${trainFrames.length} frames at ${FPS} fps; ${held.length} held out (${heldFrames.length} frames)`);
    console.log(`near = 1..${NEAR_MAX} frames away, far = >= ${FAR_MIN} frames away (same video); ${EPOCHS} epochs; overrides ${JSON.stringify(OVERRIDES)}`);
    for (let seed = 0; seed < SEEDS; seed++) {
      const pool = createAugmentPool({ size: 2 });
      const config: TemporalConfig = { ...TEMPORAL_DEFAULTS, imageSize: IMAGE, batchSize: 32, headHiddenDim: 256, projectionDim: 64, ...OVERRIDES };
      const stepsPerEpoch = Math.floor(trainFrames.length / config.batchSize);
      const ctx = {
        source: fromVideoFile(train, { fps: FPS, size: { width: SIZE, height: SIZE }, concurrency: 8, epochs: EPOCHS, shuffle: true, seed }) as unknown as DataSource<SourceItem>,
        pool,
        seed,
        dataset: { name: 'shapes', size: trainFrames.length, height: SIZE, width: SIZE, channels: 3 },
        stepsPerEpoch,
        totalSteps: stepsPerEpoch * EPOCHS,
      };
      const inst = temporal.create(config, ctx);
      const random = temporal.create(config, ctx); // same seed: the same initial weights, never trained
      const trTrain = triples(trainFrames, 1);
      const trHeld = triples(heldFrames, 2);
      const sets = {
        'train, augmented': await views(trainFrames, trTrain, pool, true, config),
        'held-out, augmented': await views(heldFrames, trHeld, pool, true, config),
        'held-out, plain': await views(heldFrames, trHeld, pool, false, config),
      };
      const t0 = Date.now();
      const reports = await lastValueFrom(inst.steps.pipe(toArray()));
      const ms = Date.now() - t0;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      console.log(`seed ${seed}: ${reports.length} steps, ${(ms / reports.length).toFixed(0)} ms/step, loss ${mean(reports.slice(0, 4).map((r) => r.loss)).toFixed(3)} -> ${mean(reports.slice(-4).map((r) => r.loss)).toFixed(3)}`);
      for (const [name, x] of Object.entries(sets)) {
        const raw = nearOverFar(null, x);
        const r0 = nearOverFar(random.modules.encoder, x);
        const r1 = nearOverFar(inst.modules.encoder, x);
        console.log(`seed ${seed}: ${name.padEnd(20)} (${x.shape[0] / 3} triples) near>far: raw pixels ${raw.toFixed(3)}, random init ${r0.toFixed(3)}, trained ${r1.toFixed(3)}  (trained / random ${(r1 / r0).toFixed(3)})`);
        x.dispose();
      }
      inst.dispose();
      random.dispose();
      await pool.destroy();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
