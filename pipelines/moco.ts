/**
 * MoCo — He, Fan, Wu, Xie & Girshick, "Momentum Contrast for Unsupervised Visual Representation
 * Learning", CVPR 2020 (arXiv:1911.05722), and MoCo v2 — Chen, Fan, Girshick & He, "Improved
 * Baselines with Momentum Contrastive Learning" (arXiv:2003.04297). Reference code:
 * facebookresearch/moco.
 *
 * Two views of every image: the query view goes through the query encoder f_q and its head
 * (v1: one linear layer to 128-d; v2: a 2-layer MLP) and is L2-normalised, q = g_q(f_q(x_q));
 * the key view through the key encoder, k = g_k(f_k(x_k)), whose parameters are not trained
 * but follow the query's by EMA, theta_k <- m theta_k + (1 - m) theta_q. The loss is InfoNCE of q
 * against its key k+ (positive) and the K keys of a FIFO queue (negatives) at temperature tau.
 * After each optimizer step the key encoder takes its momentum update and the batch's B keys
 * are enqueued, the B oldest dequeued (Algorithm 1 of the paper).
 *
 *   source -> augmentInPool(2 views) -> batchWithPrefetch -> toTensorBatch
 *          -> trainEach(InfoNCE(q, k+, queue)) -> updateMomentumEncoder -> updateKeyQueue
 *          -> step reports
 *
 * v1 vs v2 (`version`; each difference can be switched on its own, as in Table 1 of the v2
 * paper, with `mlpHead`, `augPlus`, `cosineLr`, `temperature` — null means "as the version"):
 *   v1: linear head, InstDisc augmentation, tau 0.07, step decay (x0.1 at 60% and 80% of the run,
 *       the paper's epochs 120 and 160 of 200).
 *   v2: MLP head, "aug+" (colour jitter with p 0.8, Gaussian blur), tau 0.2, cosine decay.
 *
 * Deviations from the papers / reference code:
 * - No shuffling BN. The paper shuffles the key batch across GPUs so that BN statistics cannot
 *   leak which key belongs to which query; it is a multi-GPU trick. Here the query batch and the
 *   key batch each get their own BN statistics (one device); the key of image i is therefore
 *   normalised with statistics of the same images as its query. `shuffleBnGroups: G > 1`
 *   emulates it on one device: both encoders see the batch as G sub-batches with their own BN
 *   statistics, and the key encoder sees them in a shuffled order (the key of image i is
 *   normalised with statistics of other images than its query's).
 * - Queue size K: 4096 by default (the paper: 65536 on ImageNet's 1.28M images, 4096 in its
 *   CIFAR/ablation-size runs), and capped at the largest multiple of B not above n - B, so that a
 *   queue never holds a second key of an image of the current batch within an epoch.
 * - Key-encoder momentum m: the paper's 0.999 assumes ~5000 steps per epoch. With a few hundred
 *   steps per run the key encoder would barely leave its initialisation, so the default is 0.99
 *   (the value most CIFAR reproductions use). Set `keyMomentum: 0.999` for the paper's.
 * - Default encoder: the 6-conv CNN (ResNet-18/50 with `encoder`); the MLP head's hidden width is
 *   512 (the paper: 2048, the width of ResNet-50's features). kNN evaluation uses the query
 *   encoder's pooled features, before the head (as the paper's linear evaluation).
 * - SGD with a linear warmup (0.5 epoch by default) before either schedule, and the lr scaled
 *   linearly with the batch from its value at B = 256. On 1-channel data the colour steps of the
 *   augmentation reduce to brightness/contrast; the blur kernel is 10% of the image (3 px at 28).
 * - The initial queue holds random unit vectors, as the reference code.
 */
import * as tf from '@tensorflow/tfjs-core';
import { map } from 'rxjs';
import { definePipeline } from '../src/pipeline/PipelineDefinition.ts';
import { augmentInPool } from '../src/operators/augmentInPool.ts';
import { batchWithPrefetch } from '../src/operators/batchWithPrefetch.ts';
import { toTensorBatch } from '../src/operators/toTensorBatch.ts';
import { trainEach } from '../src/operators/trainEach.ts';
import { mocoV1 as mocoV1Augment, mocoV2 as mocoV2Augment } from '../src/augment/presets.ts';
import { linearProjection } from '../src/models/linearProjection.ts';
import { mlpProjection } from '../src/models/mlpProjection.ts';
import { l2Normalize } from '../src/models/l2Normalize.ts';
import type { Module } from '../src/models/module.ts';
import { infoNceLoss } from '../src/losses/infoNceLoss.ts';
import { KeyQueue, type KeyQueueState } from '../src/memory/KeyQueue.ts';
import { updateKeyQueue } from '../src/memory/updateKeyQueue.ts';
import { MomentumEncoder, type MomentumEncoderState } from '../src/memory/MomentumEncoder.ts';
import { updateMomentumEncoder } from '../src/memory/updateMomentumEncoder.ts';
import { sgd } from '../src/optim/sgd.ts';
import { cosineWithWarmup } from '../src/optim/cosineWithWarmup.ts';
import { stepDecay } from '../src/optim/stepDecay.ts';
import type { LearningRateSchedule } from '../src/optim/optimizer.ts';
import { SeededRng } from '../src/internal/seededRng.ts';
import { buildEncoder, defaultNormalization, ModuleBundle, normalizeImages, type EncoderName } from '../src/pipeline/buildEncoder.ts';
import { ArgumentError } from '../src/errors.ts';
import type { TensorBatch } from '../src/data.ts';

export interface MocoConfig {
  /** 1 (He et al. 2019) or 2 (Chen et al. 2020). Default 2. */
  version: 1 | 2;
  /** Encoders f_q, f_k. Paper: ResNet-50; default 'convnet6'. */
  encoder: EncoderName;
  /** Square input size; null = the data's own size. Default null. */
  imageSize: number | null;
  /** Images per batch (B keys enqueued per step). Paper: 256. Default 256. */
  batchSize: number;
  /** K, keys in the queue; a multiple of batchSize. Paper: 65536. Default 4096 (capped, see header). */
  queueSize: number;
  /** m of the key encoder's EMA. Paper: 0.999. Default 0.99 (short runs, see header). */
  keyMomentum: number;
  /** tau; null = as the version (v1 0.07, v2 0.2). */
  temperature: number | null;
  /** MLP head (v2) instead of a linear one (v1); null = as the version. */
  mlpHead: boolean | null;
  /** "aug+" (v2: jitter p 0.8, blur) instead of InstDisc's augmentation (v1); null = as the version. */
  augPlus: boolean | null;
  /** Cosine lr decay (v2) instead of step decay (v1); null = as the version. */
  cosineLr: boolean | null;
  /** Output width of the head. Paper: 128. */
  projectionDim: number;
  /** Hidden width of the MLP head. Paper: 2048 (ResNet-50); default 512. */
  headHiddenDim: number;
  /** Emulated shuffling BN: sub-batches per batch (1 = off). Paper: one per GPU (8). Default 1. */
  shuffleBnGroups: number;
  /** Base learning rate for batch 256 (scaled linearly). Paper: 0.03. Default 0.06. */
  lr: number;
  /** SGD momentum. Paper: 0.9. */
  momentum: number;
  /** Weight decay. Paper: 1e-4. */
  weightDecay: number;
  /** Linear warmup, in epochs (fractional allowed). Paper: none. Default 0.5. */
  warmupEpochs: number;
  /** RandomResizedCrop scale. Paper: [0.2, 1]. */
  cropScale: [number, number];
}

export const MOCO_DEFAULTS: MocoConfig = {
  version: 2,
  encoder: 'convnet6',
  imageSize: null,
  batchSize: 256,
  queueSize: 4096,
  keyMomentum: 0.99,
  temperature: null,
  mlpHead: null,
  augPlus: null,
  cosineLr: null,
  projectionDim: 128,
  headHiddenDim: 512,
  shuffleBnGroups: 1,
  lr: 0.06,
  momentum: 0.9,
  weightDecay: 1e-4,
  warmupEpochs: 0.5,
  cropScale: [0.2, 1],
};

/** The settings a MoCo config resolves to (the version's choices filled in). */
export interface ResolvedMoco {
  temperature: number;
  mlpHead: boolean;
  augPlus: boolean;
  cosineLr: boolean;
  /** K after the cap of the header. */
  queueSize: number;
}

/** Fills in the version-dependent settings and checks the config against the data size `n`. */
export function resolveMocoConfig(config: MocoConfig, n: number): ResolvedMoco {
  const fn = 'moco';
  if (config.version !== 1 && config.version !== 2) throw new ArgumentError(fn, 'config.version', `must be 1 or 2, got ${String(config.version)}`);
  const b = config.batchSize;
  const k = config.queueSize;
  if (!(Number.isInteger(k) && k >= b && k % b === 0)) {
    throw new ArgumentError(fn, 'config.queueSize', `must be a positive multiple of batchSize ${b} (MoCo's queue), got ${k}; use e.g. ${Math.max(1, Math.round(k / b)) * b}`);
  }
  if (!(typeof config.keyMomentum === 'number' && config.keyMomentum >= 0 && config.keyMomentum <= 1)) {
    throw new ArgumentError(fn, 'config.keyMomentum', `must be a number in [0, 1], got ${config.keyMomentum}`);
  }
  const g = config.shuffleBnGroups;
  if (!(Number.isInteger(g) && g >= 1 && b % g === 0 && b / g >= 2)) {
    throw new ArgumentError(fn, 'config.shuffleBnGroups', `must be an integer >= 1 dividing batchSize ${b} into sub-batches of >= 2, got ${g}`);
  }
  const v2 = config.version === 2;
  return {
    temperature: config.temperature ?? (v2 ? 0.2 : 0.07),
    mlpHead: config.mlpHead ?? v2,
    augPlus: config.augPlus ?? v2,
    cosineLr: config.cosineLr ?? v2,
    queueSize: Math.max(b, Math.min(k, Math.floor((n - b) / b) * b)),
  };
}

/** Query and key variables paired by name (the key network is built the same way). */
function pairVariables(query: Module, key: Module): [tf.Variable[], tf.Variable[]] {
  const q = query.namedParameters();
  const k = key.namedParameters();
  const names = [...q.keys()];
  if (names.length !== k.size || names.some((n) => !k.has(n))) throw new ArgumentError('moco', 'encoder', 'query and key networks differ in their parameters');
  return [names.map((n) => q.get(n) as tf.Variable), names.map((n) => k.get(n) as tf.Variable)];
}

/**
 * `net` applied to `x` [B, ...] as G sub-batches of B/G rows (each with its own BN statistics),
 * the sub-batches made of the rows in `order` (a permutation), and the output rows put back in
 * the original order. G = 1 and no order: one plain forward pass.
 */
function forwardInGroups(net: (x: tf.Tensor) => tf.Tensor2D, x: tf.Tensor, groups: number, order?: Int32Array): tf.Tensor2D {
  if (groups === 1 && order === undefined) return net(x);
  return tf.tidy(() => {
    const xs = order === undefined ? x : tf.gather(x, tf.tensor1d(order, 'int32')); // [B, ...] shuffled
    const outs = tf.split(xs, groups, 0).map((part) => net(part)); // G x [B/G, D]
    const y = tf.concat(outs, 0) as tf.Tensor2D; // [B, D] in shuffled order
    if (order === undefined) return y;
    const inverse = new Int32Array(order.length);
    order.forEach((src, i) => (inverse[src] = i));
    return tf.gather(y, tf.tensor1d(inverse, 'int32')) as tf.Tensor2D; // [B, D] original order
  });
}

export default definePipeline<MocoConfig>({
  name: 'moco',
  paper: 'He et al. 2019, Momentum Contrast for Unsupervised Visual Representation Learning (arXiv:1911.05722); v2: Chen et al. 2020 (arXiv:2003.04297)',
  summary: 'query encoder + EMA key encoder, FIFO queue of K keys, InfoNCE (v2: MLP head, blur, cosine lr)',
  defaults: MOCO_DEFAULTS,
  create(config, ctx) {
    const r = resolveMocoConfig(config, ctx.dataset.size);
    const b = config.batchSize;
    const groups = config.shuffleBnGroups;
    const channels = ctx.dataset.channels;
    const imageSize = config.imageSize ?? (ctx.dataset.height || 32);
    const { mean, std } = defaultNormalization(channels);

    // Query network f_q, g_q (trained) and key network f_k, g_k (EMA of the query's parameters).
    const makeHead = (inDim: number) =>
      r.mlpHead
        ? mlpProjection({ inDim, hiddenDim: config.headHiddenDim, outDim: config.projectionDim, seed: ctx.seed + 1 })
        : linearProjection({ inDim, outDim: config.projectionDim, seed: ctx.seed + 1 });
    const fQ = buildEncoder(config.encoder, channels, imageSize, ctx.seed);
    const gQ = makeHead(fQ.dim);
    const fK = buildEncoder(config.encoder, channels, imageSize, ctx.seed);
    const gK = makeHead(fK.dim);
    const query = new ModuleBundle({ encoder: fQ.module, head: gQ });
    const key = new ModuleBundle({ encoder: fK.module, head: gK });
    // theta_k = theta_q at start (parameters and BN buffers).
    const keyWeights = key.namedWeights();
    tf.tidy(() => query.namedWeights().forEach((v, name) => (keyWeights.get(name) as tf.Variable).assign(v)));
    const [qVars, kVars] = pairVariables(query, key);
    const momentumEncoder = new MomentumEncoder(qVars, kVars, { momentum: config.keyMomentum });
    const restored = ctx.restoredState as { queue: KeyQueueState; momentumEncoder: MomentumEncoderState; shuffleRng?: number } | undefined;
    if (restored) momentumEncoder.loadState(restored.momentumEncoder);
    const queue = restored
      ? KeyQueue.fromState(restored.queue)
      : new KeyQueue({ size: r.queueSize, dim: config.projectionDim, batchSize: b, seed: ctx.seed + 2 });

    const baseLr = (config.lr * b) / 256;
    const warmup = Math.min(ctx.totalSteps, Math.round(config.warmupEpochs * ctx.stepsPerEpoch));
    let schedule: LearningRateSchedule;
    if (r.cosineLr) {
      schedule = cosineWithWarmup({ baseLr, warmupSteps: warmup, totalSteps: ctx.totalSteps });
    } else {
      const milestones = [...new Set([0.6, 0.8].map((p) => Math.max(warmup + 1, Math.round(p * ctx.totalSteps))))];
      const decay = stepDecay({ baseLr, milestones });
      schedule = (step) => (step < warmup ? (baseLr * (step + 1)) / warmup : decay(step));
    }
    const optimizer = sgd({ lr: schedule, momentum: config.momentum, weightDecay: config.weightDecay });

    const augment = (r.augPlus ? mocoV2Augment : mocoV1Augment)({ size: imageSize, scale: config.cropScale, mean, std });
    const rng = new SeededRng(ctx.seed + 3); // key-batch shuffles of the emulated shuffling BN
    if (restored?.shuffleRng !== undefined) rng.setState(restored.shuffleRng);
    const shuffled = (): Int32Array | undefined => {
      if (groups === 1) return undefined;
      const p = Int32Array.from({ length: b }, (_, i) => i);
      for (let i = b - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        [p[i], p[j]] = [p[j], p[i]];
      }
      return p;
    };
    const netQ = (x: tf.Tensor) => gQ.forward(fQ.module.forward(x, { training: true }), { training: true }) as tf.Tensor2D;
    const netK = (x: tf.Tensor) => gK.forward(fK.module.forward(x, { training: true }), { training: true }) as tf.Tensor2D;

    const steps = ctx.source.pipe(
      augmentInPool({ pool: ctx.pool, seed: ctx.seed, augment }), // 2 views, [S, S, C] float32 each
      batchWithPrefetch({ batchSize: b, prefetch: 2, dropLast: true }),
      toTensorBatch(), // views: 2 x [B, S, S, C]
      trainEach<TensorBatch>({
        firstStep: ctx.firstStep,
        params: query, // only theta_q is trained; no gradient reaches theta_k (it is not a variable of the step)
        optimizer,
        loss: (batch) => {
          const q = l2Normalize(forwardInGroups(netQ, batch.views[0], groups)); // [B, P] queries
          const k = l2Normalize(forwardInGroups(netK, batch.views[1], groups, shuffled())); // [B, P] positive keys
          const negatives = queue.keys(); // [K, P], the queue before this step's keys
          const loss = infoNceLoss(q, k, negatives, { temperature: r.temperature, normalize: false });
          return { loss, outputs: { keys: k } };
        },
      }),
      // After the optimizer step: theta_k <- m theta_k + (1 - m) theta_q, then enqueue k / dequeue.
      updateMomentumEncoder({ encoder: momentumEncoder }),
      updateKeyQueue({ queue, select: (s) => s.outputs.keys as tf.Tensor2D, step: (s) => s.report.step }),
      map((s) => s.report),
    );

    return {
      steps,
      imageSize,
      modules: { encoder: fQ.module, head: gQ, keyEncoder: fK.module, keyHead: gK },
      optimizer,
      features: (images) => tf.tidy(() => fQ.module.forward(normalizeImages(images, mean, std), { training: false }) as tf.Tensor2D),
      state: () => ({ queue: queue.state(), momentumEncoder: momentumEncoder.state(), shuffleRng: rng.state, resolved: r }),
      dispose: () => {
        query.dispose();
        key.dispose();
        queue.dispose();
        optimizer.dispose?.();
      },
    };
  },
});
