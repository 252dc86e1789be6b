/**
 * Temporal contrastive learning on video: time supplies the positives. Frames close in time
 * show the same things and should embed close; frames far apart, or from other videos, are
 * negatives. The idea is slow feature analysis (Wiskott & Sejnowski 2002) made contrastive:
 * "Time-Contrastive Networks" (Sermanet et al. 2018, arXiv:1704.06888), the temporal
 * InfoNCE of CPC (van den Oord et al. 2018, arXiv:1807.03748) and "Unsupervised Learning of
 * Visual Representations using Videos" (Wang & Gupta 2015); the encoder, head and loss are
 * SimCLR's (Chen et al. 2020, arXiv:2002.05709).
 *
 *   video frames -> temporalPositives(anchor, positive within +-window, [extra positives],
 *   [explicit negatives]) -> one augmented view per frame (augmentInPool, SimCLR preset)
 *   -> batchWithPrefetch(N tuples x K frames) -> toTensorBatch
 *   -> trainEach(InfoNCE(g(f(anchor)), g(f(positive)) against the batch)) -> step reports
 *
 * Loss: for anchor i (z = normalised head outputs) and each positive slot j,
 *   l_ij = -log exp(a_i.p_ij / tau) / sum_{c in C_i} exp(a_i.c / tau)
 * where C_i holds p_ij, the j-th positive and the anchor of every other tuple in the batch that
 * is a valid negative of a_i (another video, or farther than the window: isTemporalNegative),
 * and the tuple's explicit negatives. Batch entries inside a_i's window are masked out, so a
 * frame is never pushed away from a neighbour in time. L = mean over i and j.
 *
 * Deviations and choices:
 * - Tuples pass a bounded shuffle buffer (4 batches by default): in stream order a batch would
 *   hold mostly neighbours in time, which the mask removes as negatives.
 * - One augmented view per frame (SimCLR makes two of one image; here the second "view" is
 *   another moment of the video, which already brings motion, pose and lighting changes).
 *   Milder augmentation than SimCLR's, because of that: crop scale (0.6, 1) (SimCLR 0.2) and
 *   no colour distortion (colorStrength 0; SimCLR 0.5; random grey and flips remain), no blur
 *   <= 32 px. With SimCLR's strength 0.5 and crop (0.3, 1), a short run hardly learned:
 *   bench:temporal (8 videos, 58 steps, same machine and load) loss 3.90 -> 3.65, against
 *   3.38 -> 2.40 (two runs: 2.38, 2.40) with these settings; held-out near-vs-far ranking on
 *   plain frames 0.831 against 0.819-0.844 (random init 0.863: no setting tried beats the
 *   untrained encoder on this task in 58 steps; see README). Colour 0.2 with crop (0.5, 1):
 *   loss 3.41 -> 3.12, ranking 0.838.
 * - lr 0.5 per 256 frames (SimCLR 0.3): the loss falls faster in short runs; lr 1.0 was worse
 *   (with warmup 0.25 epochs: held-out ranking 0.769). A batch holds N K frames, so the scaled lr is 0.5 N K / 256.
 * - Anchors as queries only (SimCLR's NT-Xent is symmetric); the positive's other direction
 *   comes up when that frame is itself an anchor.
 * - SGD with momentum and a cosine schedule with warmup, as pipelines/simclr.ts.
 * - Features for downstream use: f(x), before the head (as SimCLR).
 *
 * Resume is approximate (`resumeExact: false`); weights, optimizer state, LR schedule and step
 * numbers continue exactly. What differs from an uninterrupted run: the source restarts at
 * frame P of the merged frame plan, P = the tuples trained so far (the step reports' `images`;
 * one tuple per anchor, so P is the anchor position when anchorStride = 1); the tuple sampler
 * restarts empty there. So (1) the shuffle buffer (`shuffleBuffer` tuples) and the prefetched
 * batches are not saved: tuples drawn before the checkpoint but not trained yet are lost and
 * about as many anchors before P go untrained, while the same number of anchors after P was
 * already trained and is trained again; (2) anchors just after P have no positive before P (the
 * window buffer is empty); (3) the batch order and composition from then on differ; (4) P
 * counts trained tuples only, so it lags the true position by the tuples of each epoch's
 * dropped last short batch (< batchSize per epoch), and with anchorStride k > 1 a tuple stands
 * for k frames, so the restart lands early: frames P .. kP of the plan are trained again.
 *
 * Input: `ctx.source` must emit Frames (fromVideoFile, fromFrameFolder or any FrameSource);
 * anything else ends the run with an ArgumentError saying so. `epoch` is taken from the frames.
 */
import * as tf from '@tensorflow/tfjs-core';
import { map, type Observable, type OperatorFunction } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { temporalPositives, isTemporalNegative, type FramePosition, type TemporalSpan, type TemporalTuple } from '../src/operators/temporalPositives.ts';
import { simclr as simclrAugment } from '../src/augment/presets.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import { infoNceLossFromLogits } from '../src/losses/infoNceLoss.ts';
import { buildSimclrModel } from '../src/internal/simclrModel.ts';
import type { SimclrConfig } from './simclr.ts';
import { DataSource, pullFrom, type PullIterator } from '../src/sources/DataSource.ts';
import type { Frame } from '../src/sources/FrameSource.ts';
import type { Module } from '../src/models/module.ts';
import { ArgumentError } from '../src/errors.ts';
import type { Sample, SourceItem, TensorBatch } from '../src/data.ts';

/**
 * The temporal options, plus SimCLR's (see SimclrConfig: encoder, imageSize, temperature, head
 * widths, lr per 256 frames, momentum, weightDecay, warmupEpochs, cropScale, colorStrength) with
 * this pipeline's own defaults, in TEMPORAL_DEFAULTS and the header's deviations list.
 */
export interface TemporalConfig
  extends Pick<SimclrConfig, 'encoder' | 'imageSize' | 'temperature' | 'headHiddenDim' | 'projectionDim' | 'lr' | 'momentum' | 'weightDecay' | 'warmupEpochs' | 'cropScale' | 'colorStrength'> {
  /** Tuples per batch (each gives 1 + extraPositives + negatives frames). Default 64. */
  batchSize: number;
  /** Positive window in frames (+-N). Used when windowMs is null. Default 3. */
  windowFrames: number;
  /** Positive window in milliseconds (+-T); overrides windowFrames when set. Default null. */
  windowMs: number | null;
  /** Smallest anchor-positive distance in the window's unit; null = 1 frame / > 0 ms. Default null. */
  minOffset: number | null;
  /** Positives per tuple beyond the first. Default 0. */
  extraPositives: number;
  /** Explicit negatives per tuple (other videos or outside the window), besides the batch. Default 0. */
  negatives: number;
  /** Every k-th frame is an anchor. Default 1. */
  anchorStride: number;
  /** Videos buffered at once by temporalPositives. Default 16. */
  maxVideos: number;
  /** Tuples mixed before batching (so batches mix videos and moments); null = 4 batches. Default null. */
  shuffleBuffer: number | null;
}

export const TEMPORAL_DEFAULTS: TemporalConfig = {
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 64,
  windowFrames: 3,
  windowMs: null,
  minOffset: null,
  extraPositives: 0,
  negatives: 0,
  anchorStride: 1,
  maxVideos: 16,
  shuffleBuffer: null,
  temperature: 0.2,
  headHiddenDim: 512,
  projectionDim: 128,
  lr: 0.5,
  momentum: 0.9,
  weightDecay: 5e-4,
  warmupEpochs: 0.5,
  cropScale: [0.6, 1],
  colorStrength: 0,
};

/** What the loss needs to know about a frame of a tuple (no pixels). */
type FrameMeta = FramePosition;

/**
 * Flattens tuples into their frames as Samples, in order [anchor, positives..., negatives...];
 * tuple t's frame s gets sample index t K + s and the epoch of the stream so far (the largest
 * anchor epoch seen), and `meta` keeps the tuple's frame positions
 * (not pixels) under t until the loss takes it. Pulls one tuple at a time.
 */
export function flattenTuples(k: number, meta: Map<number, FrameMeta[]>): OperatorFunction<TemporalTuple, Sample> {
  return (source: Observable<TemporalTuple>) =>
    new DataSource<Sample>((): PullIterator<Sample> => {
      const upstream = pullFrom(source);
      let pending: Sample[] = [];
      let t = 0;
      let epoch = 0;
      return {
        async next() {
          if (pending.length === 0) {
            const r = await upstream.next();
            if (r.done) return { done: true, value: undefined };
            const tuple = r.value;
            const frames = [tuple.anchor, ...tuple.positives, ...tuple.negatives];
            if (frames.length !== k) throw new ArgumentError('temporal', 'tuple', `has ${frames.length} frames, expected ${k}`);
            const id = t++;
            meta.set(
              id,
              frames.map((f) => ({ videoId: f.videoId, frameIndex: f.frameIndex, timestampMs: f.timestampMs })),
            );
            // one epoch per tuple, never decreasing: batches break only where the epoch advances
            // (batchWithPrefetch never mixes epochs in a batch), and never inside a tuple
            epoch = Math.max(epoch, tuple.anchor.epoch ?? 0);
            pending = frames.map((f, s) => ({ index: id * k + s, epoch, pixels: f.pixels, width: f.width, height: f.height, channels: f.channels }));
          }
          return { done: false, value: pending.shift()! };
        },
        async return() {
          pending = [];
          await upstream.return?.(undefined);
          return { done: true, value: undefined };
        },
      };
    });
}

/**
 * Additive logit mask [N, 2N] for anchors against [positives of slot j | anchors]: 0 where the
 * column may be used (its own positive, or a valid negative), -1e9 where it must not (inside
 * the anchor's window, or the anchor itself).
 */
export function temporalBatchMask(tuples: FrameMeta[][], slot: number, window: TemporalSpan): Float32Array {
  const n = tuples.length;
  const mask = new Float32Array(n * 2 * n);
  for (let i = 0; i < n; i++) {
    const a = tuples[i][0];
    for (let c = 0; c < n; c++) {
      if (c !== i && !isTemporalNegative(a, tuples[c][1 + slot], window)) mask[i * 2 * n + c] = -1e9;
      if (c === i || !isTemporalNegative(a, tuples[c][0], window)) mask[i * 2 * n + n + c] = -1e9;
    }
  }
  return mask;
}

export interface TemporalLossConfig {
  window: TemporalSpan;
  extraPositives: number;
  negatives: number;
  temperature: number;
}

/**
 * The pipeline's loss (see the file header) on a batch of tuples, training mode:
 * x [N K, S, S, C] holds tuple i's frames at rows i K .. i K + K - 1 in the order
 * (anchor, positives, negatives); `tuples[i]` gives their positions (for the window mask).
 */
export function temporalLoss(models: { encoder: Module; head: Module }, x: tf.Tensor4D, tuples: FramePosition[][], config: TemporalLossConfig): tf.Scalar {
  const n = tuples.length;
  const extra = config.extraPositives;
  const k = 2 + extra + config.negatives;
  if (x.shape[0] !== n * k) throw new ArgumentError('temporalLoss', 'x', `must hold ${n} tuples x ${k} frames = ${n * k} rows, got ${x.shape[0]}`);
  const tau = config.temperature;
  return tf.tidy(() => {
    const h = models.encoder.forward(x, { training: true }); // [N K, D]
    const z = l2Normalize(models.head.forward(h, { training: true }) as tf.Tensor2D); // [N K, P]
    const p = z.shape[1];
    const zr = tf.reshape(z, [n, k, p]); // [N, K, P]
    const anchors = tf.reshape(tf.slice(zr, [0, 0, 0], [n, 1, p]), [n, p]) as tf.Tensor2D; // [N, P]
    const positiveIndex = Array.from({ length: n }, (_, i) => i);
    const terms: tf.Scalar[] = [];
    for (let j = 0; j <= extra; j++) {
      const pos = tf.reshape(tf.slice(zr, [0, 1 + j, 0], [n, 1, p]), [n, p]) as tf.Tensor2D; // [N, P]
      const cands = tf.concat([pos, anchors], 0); // [2N, P]
      const mask = tf.tensor2d(temporalBatchMask(tuples, j, config.window), [n, 2 * n]); // [N, 2N]
      let logits = tf.add(tf.div(tf.matMul(anchors, cands, false, true), tau), mask) as tf.Tensor2D; // [N, 2N]
      if (config.negatives > 0) {
        const negs = tf.slice(zr, [0, 2 + extra, 0], [n, config.negatives, p]); // [N, M, P]
        const negLogits = tf.div(tf.sum(tf.mul(tf.expandDims(anchors, 1), negs), 2), tau); // [N, M]
        logits = tf.concat([logits, negLogits], 1) as tf.Tensor2D; // [N, 2N + M]
      }
      terms.push(infoNceLossFromLogits(logits, { positiveIndex }));
    }
    return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
  });
}

export default definePipeline<TemporalConfig>({
  name: 'temporal',
  paper: 'Time-contrastive learning (Sermanet et al. 2018, arXiv:1704.06888) with SimCLR\'s head and InfoNCE (Chen et al. 2020, arXiv:2002.05709)',
  summary: 'video: frames within a time window are positives, other videos / far frames negatives; InfoNCE, MLP head',
  defaults: TEMPORAL_DEFAULTS,
  create(config, ctx) {
    const fn = 'temporal';
    const window: TemporalSpan = config.windowMs !== null && config.windowMs !== undefined ? { ms: config.windowMs } : { frames: config.windowFrames };
    const extra = config.extraPositives;
    const k = 1 + (1 + extra) + config.negatives; // frames per tuple
    const n = config.batchSize;
    if (!(Number.isInteger(n) && n >= 2)) throw new ArgumentError(fn, 'config.batchSize', `must be an integer >= 2, got ${n}`);
    if (!(config.temperature > 0)) throw new ArgumentError(fn, 'config.temperature', `must be > 0, got ${config.temperature}`);
    const simclrParts = buildSimclrModel(config, ctx, n * k); // lr scaled by the frames per step
    const { imageSize, mean, std, f, g, model, optimizer } = simclrParts;
    const meta = new Map<number, FrameMeta[]>();
    const lossConfig: TemporalLossConfig = { window, extraPositives: extra, negatives: config.negatives, temperature: config.temperature };

    const steps = (ctx.source as Observable<SourceItem> as Observable<Frame>).pipe(
      temporalPositives({
        window,
        minOffset: config.minOffset ?? undefined,
        extraPositives: extra,
        negatives: config.negatives,
        anchorStride: config.anchorStride,
        maxVideos: config.maxVideos,
        shuffleBuffer: config.shuffleBuffer ?? 4 * n,
        seed: ctx.seed,
      }), // tuples: anchor, 1 + extra positives, negatives; shuffled through a bounded buffer
      flattenTuples(k, meta), // K frames per tuple, in order
      augmentInPool({
        pool: ctx.pool,
        seed: ctx.seed,
        augment: simclrAugment({ size: imageSize, scale: config.cropScale, strength: config.colorStrength, mean, std, views: 1 }),
      }), // 1 view per frame, [S, S, C] float32
      batchWithPrefetch({ batchSize: n * k, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views[0]: [N K, S, S, C]
      trainEach<TensorBatch>({
        params: model,
        optimizer,
        firstStep: ctx.firstStep,
        images: (b) => b.size / k,
        loss: (b) => {
          const tuples: FrameMeta[][] = [];
          for (let i = 0; i < n; i++) {
            const idx = b.indices[i * k];
            const t = Math.floor(idx / k);
            const m = meta.get(t);
            if (m === undefined || idx % k !== 0) throw new ArgumentError(fn, 'batch', `row ${i * k} is not the anchor of a tuple (sample ${idx}); tuples must stay whole and in order`);
            meta.delete(t);
            tuples.push(m);
          }
          return temporalLoss({ encoder: f.module, head: g }, b.views[0] as tf.Tensor4D, tuples, lossConfig);
        },
      }),
      map((s) => s.report),
    );

    return {
      steps,
      ...simclrParts.instance, // imageSize, modules, optimizer, features (f, before the head)
      resumeExact: false, // see the header: the sampler's buffers are not checkpointed; the source restarts at frame `images trained`
      dispose: () => {
        simclrParts.instance.dispose();
        meta.clear();
      },
    };
  },
});
