import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useCpuWithGradients, randomArray, values, expectClose } from '../models/support.ts';
import { Module, type ForwardOptions } from '../../src/models/module.ts';
import { Conv2d } from '../../src/models/conv2d.ts';
import { BatchNorm } from '../../src/models/batchNorm.ts';
import { Linear } from '../../src/models/linear.ts';
import { convNet6 } from '../../src/models/convNet6.ts';
import { l2Normalize } from '../../src/models/l2Normalize.ts';
import { sgd } from '../../src/optim/sgd.ts';
import { adam } from '../../src/optim/adam.ts';
import { trainStep, trainStepAsync } from '../../src/train/trainStep.ts';
import { ArgumentError, DivergenceError } from '../../src/errors.ts';

/** conv3x3 (2→3) → BN+ReLU → global average → linear (3→2). */
class Tiny extends Module {
  conv = this.addModule('conv', new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, seed: 1 }));
  bn = this.addModule('bn', new BatchNorm({ numFeatures: 3, relu: true }));
  fc = this.addModule('fc', new Linear({ inFeatures: 3, outFeatures: 2, seed: 2 }));
  forward(x: tf.Tensor, o: ForwardOptions) {
    return tf.tidy(() => this.fc.forward(tf.mean(this.bn.forward(this.conv.forward(x), o), [1, 2])));
  }
}

/** BN straight on the input, then linear: the batch statistics are those of x. */
class BnFirst extends Module {
  bn = this.addModule('bn', new BatchNorm({ numFeatures: 3 }));
  fc = this.addModule('fc', new Linear({ inFeatures: 3, outFeatures: 1, seed: 3 }));
  forward(x: tf.Tensor, o: ForwardOptions) {
    return tf.tidy(() => this.fc.forward(this.bn.forward(x, o)));
  }
}

const snapshot = (m: Module) => new Map([...m.namedWeights()].map(([k, v]) => [k, values(v)]));

describe('train: trainStep', () => {
  const x = () => tf.tensor4d(randomArray(4 * 5 * 5 * 2, 1), [4, 5, 5, 2]);
  const target = () => tf.tensor2d(randomArray(8, 2), [4, 2]);
  beforeAll(useCpuWithGradients);

  it('a few SGD steps reduce a toy regression loss; the loss comes back as a number', () => {
    const m = new Tiny();
    const [xs, ys] = [x(), target()];
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    const lossFn = () => tf.losses.meanSquaredError(ys, m.forward(xs, { training: true })) as tf.Scalar;
    const losses: number[] = [];
    for (let i = 0; i < 25; i++) losses.push(trainStep({ params: m, lossFn, optimizer: opt }));
    expect(typeof losses[0]).toBe('number');
    expect(losses[24]).toBeLessThan(0.5 * losses[0]);
    expect(opt.iterations).toBe(25);
    tf.dispose([xs, ys]);
    m.dispose();
    opt.dispose();
  });

  it('tf.memory().numTensors is flat across 20 steps (SGD momentum, Adam, async, tf.train.sgd)', async () => {
    for (const kind of ['sgd', 'adam', 'async', 'tf.train'] as const) {
      const m = new Tiny();
      const [xs, ys] = [x(), target()];
      const opt = kind === 'adam' ? adam({ lr: 0.01 }) : kind === 'tf.train' ? tf.train.sgd(0.05) : sgd({ lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
      const lossFn = () => tf.losses.meanSquaredError(ys, m.forward(xs, { training: true })) as tf.Scalar;
      const cfg = { params: m, lossFn, optimizer: opt };
      const run = () => (kind === 'async' ? trainStepAsync(cfg) : Promise.resolve(trainStep(cfg)));
      await run(); // the first step creates the optimizer's slots
      const after1 = tf.memory().numTensors;
      for (let i = 2; i <= 20; i++) {
        await run();
        expect(tf.memory().numTensors, `${kind} step ${i}`).toBe(after1);
      }
      tf.dispose([xs, ys]);
      m.dispose();
      opt.dispose();
    }
  });

  it('BN running statistics move once per step, after the step (momentum 0.1, unbiased variance)', () => {
    const m = new BnFirst();
    const xs = randomArray(12, 5, 2).map((v, i) => v + (i % 3));
    const input = tf.tensor2d(xs, [4, 3]);
    const opt = sgd({ lr: 0.01 });
    const lossFn = () => tf.mean(tf.square(m.forward(input, { training: true }))) as tf.Scalar;
    const mean = [0, 1, 2].map((c) => xs.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / 4);
    const uvar = [0, 1, 2].map((c) => xs.filter((_, i) => i % 3 === c).reduce((a, b) => a + (b - mean[c]) ** 2, 0) / 3);
    trainStep({ params: m, lossFn, optimizer: opt });
    expectClose(values(m.bn.runningMean), mean.map((v) => 0.1 * v), 1e-5, 'mean after 1');
    expectClose(values(m.bn.runningVar), uvar.map((v) => 0.9 + 0.1 * v), 1e-5, 'var after 1');
    trainStep({ params: m, lossFn, optimizer: opt });
    expectClose(values(m.bn.runningMean), mean.map((v) => 0.19 * v), 1e-5, 'mean after 2');
    input.dispose();
    m.dispose();
  });

  it('NaN loss: DivergenceError naming the step, with a hint; parameters, optimizer and BN stats untouched', () => {
    const m = new Tiny();
    const [xs, ys] = [x(), target()];
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    let poison = false;
    const lossFn = (): tf.Scalar => {
      const l = tf.losses.meanSquaredError(ys, m.forward(xs, { training: true })) as tf.Scalar;
      return poison ? tf.mul(l, NaN) : l;
    };
    for (let i = 0; i < 3; i++) trainStep({ params: m, lossFn, optimizer: opt });
    const before = snapshot(m);
    const state = opt.getState();
    const tensors = tf.memory().numTensors;
    poison = true;
    let err: unknown;
    try {
      trainStep({ params: m, lossFn, optimizer: opt });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DivergenceError);
    const d = err as DivergenceError;
    expect(d.step).toBe(3);
    expect(d.message).toMatch(/step 3: the loss is NaN \(learning rate 0\.1\)/);
    expect(d.message).toMatch(/temperature/);
    expect(snapshot(m)).toEqual(before);
    expect(opt.getState()).toEqual(state);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([xs, ys]);
    m.dispose();
    opt.dispose();
  });

  it('finite loss with a non-finite gradient: DivergenceError naming the parameter, nothing applied', async () => {
    const lin = new Linear({ inFeatures: 2, outFeatures: 2, seed: 4 });
    lin.weight.assign(tf.tensor2d([[0, 1], [2, 3]]));
    const opt = sgd({ lr: 0.1 });
    const lossFn = () => tf.sum(tf.sqrt(lin.weight)) as tf.Scalar; // d/dw sqrt(w) at 0 is +Inf
    const before = snapshot(lin);
    const tensors = tf.memory().numTensors;
    await expect(trainStepAsync({ params: lin, lossFn, optimizer: opt, step: 17 })).rejects.toThrow(/step 17: the loss is finite .* gradient of 'weight' is NaN or Inf/);
    expect(() => trainStep({ params: lin, lossFn, optimizer: opt })).toThrow(DivergenceError);
    expect(snapshot(lin)).toEqual(before);
    expect(opt.iterations).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors);
    lin.dispose();
  });

  it('maxGradNorm clips the global gradient norm', () => {
    const lin = new Linear({ inFeatures: 3, outFeatures: 2, seed: 6 });
    const before = values(lin.weight).concat(values(lin.bias!));
    const opt = sgd({ lr: 0.1 });
    const lossFn = () => tf.mul(1000, tf.add(tf.sum(lin.weight), tf.sum(lin.bias!))) as tf.Scalar;
    trainStep({ params: lin, lossFn, optimizer: opt, maxGradNorm: 1 });
    const after = values(lin.weight).concat(values(lin.bias!));
    const delta = Math.hypot(...after.map((v, i) => v - before[i]));
    expect(delta).toBeCloseTo(0.1, 5); // lr · maxGradNorm
    // Below the threshold nothing is scaled.
    const lossSmall = () => tf.mul(0.01, tf.sum(lin.weight)) as tf.Scalar;
    const w0 = values(lin.weight);
    trainStep({ params: lin, lossFn: lossSmall, optimizer: opt, maxGradNorm: 1 });
    expectClose(values(lin.weight), w0.map((v) => v - 0.1 * 0.01), 1e-6, 'unclipped');
    lin.dispose();
  });

  it('checks its arguments; an error inside lossFn frees everything and leaves BN stats alone', () => {
    const m = new BnFirst();
    const input = tf.tensor2d(randomArray(12, 8), [4, 3]);
    const opt = sgd({ lr: 0.1 });
    const tensors = tf.memory().numTensors;
    expect(() => trainStep({ params: m, lossFn: () => m.forward(input, { training: true }) as unknown as tf.Scalar, optimizer: opt })).toThrow(ArgumentError);
    expect(() =>
      trainStep({
        params: m,
        lossFn: () => {
          m.forward(input, { training: true });
          throw new Error('boom');
        },
        optimizer: opt,
      }),
    ).toThrow('boom');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(values(m.bn.runningMean)).toEqual([0, 0, 0]);
    expect(() => trainStep({ params: m, lossFn: () => tf.scalar(1), optimizer: {} as never })).toThrow(/optimizer/);
    expect(() => trainStep({ params: [], lossFn: () => tf.scalar(1), optimizer: opt })).toThrow(/no trainable/);
    input.dispose();
    m.dispose();
  });

  it('trains convNet6 + L2-normalised features on a tiny contrastive-style loss', () => {
    // 4x4 inputs, batch 2: the cpu backend's filter gradient is slow, the channel counts are fixed.
    const enc = convNet6({ inChannels: 1, featureDim: 8, seed: 1 });
    const xs = tf.tensor4d(randomArray(2 * 4 * 4, 9), [2, 4, 4, 1]);
    const opt = sgd({ lr: 0.5, momentum: 0.9 });
    // Pull the two rows together: loss = −cosine similarity.
    const lossFn = () =>
      tf.tidy(() => {
        const z = l2Normalize(enc.forward(xs, { training: true })); // [2, 8]
        return tf.neg(tf.sum(tf.prod(z, 0))) as tf.Scalar;
      });
    const first = trainStep({ params: enc, lossFn, optimizer: opt });
    let last = first;
    for (let i = 0; i < 2; i++) last = trainStep({ params: enc, lossFn, optimizer: opt });
    expect(last).toBeLessThan(first);
    xs.dispose();
    enc.dispose();
  });
});
