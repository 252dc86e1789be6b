import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useCpu, randomArray, values, expectClose } from './support.ts';
import { convNet6, CONV_NET6_LAYERS } from '../../src/models/convNet6.ts';
import { resnet18, resnet50, type ResNet } from '../../src/models/resnet.ts';
import { Conv2d } from '../../src/models/conv2d.ts';
import { BatchNorm } from '../../src/models/batchNorm.ts';
import { linearProjection } from '../../src/models/linearProjection.ts';
import { mlpProjection } from '../../src/models/mlpProjection.ts';
import type { Module } from '../../src/models/module.ts';

/** Published torchvision parameter counts, with the 1000-way ImageNet classifier. */
const TORCHVISION = { resnet18: 11_689_512, resnet50: 25_557_032 };
const fcParams = (inF: number, outF: number) => inF * outF + outF;
/** The CIFAR stem replaces conv1 7x7x3x64 by 3x3x3x64. */
const cifarStemDelta = 3 * 3 * 3 * 64 - 7 * 7 * 3 * 64;

describe('models: encoders and heads', () => {
  const built: Module[] = [];
  let r18i: ResNet, r18c: ResNet, r50i: ResNet, r50c: ResNet;
  beforeAll(async () => {
    await useCpu();
    r18i = resnet18({ stem: 'imagenet' });
    r18c = resnet18({ stem: 'cifar', featureDim: 128 });
    r50i = resnet50({ stem: 'imagenet', featureDim: 1000 });
    r50c = resnet50({ stem: 'cifar' });
    built.push(r18i, r18c, r50i, r50c);
  }, 60_000);
  afterAll(() => built.forEach((m) => m.dispose()));

  it('parameter counts match torchvision (fc adjusted)', () => {
    expect(r18i.numParameters()).toBe(TORCHVISION.resnet18 - fcParams(512, 1000));
    expect(r18c.numParameters()).toBe(TORCHVISION.resnet18 - fcParams(512, 1000) + cifarStemDelta + fcParams(512, 128));
    expect(r50i.numParameters()).toBe(TORCHVISION.resnet50);
    expect(r50c.numParameters()).toBe(TORCHVISION.resnet50 - fcParams(2048, 1000) + cifarStemDelta);
    // convNet6 from its definition: 3x3 convs without bias, BN gamma/beta, dense.
    for (const [inC, dim] of [[3, 128], [1, 64]]) {
      let expected = 0;
      let c = inC;
      for (const [w] of CONV_NET6_LAYERS) {
        expected += 9 * c * w + 2 * w;
        c = w;
      }
      const m = convNet6({ inChannels: inC, featureDim: dim });
      expect(m.numParameters()).toBe(expected + fcParams(128, dim));
      m.dispose();
    }
  });

  it('weights carry torchvision state_dict names and ResNet v1.5 strides', () => {
    const n18 = [...r18i.namedWeights().keys()];
    // torchvision's resnet18 state_dict has 122 entries: 20 num_batches_tracked (not kept) and 2 of fc.
    expect(n18).toHaveLength(122 - 20 - 2);
    for (const k of ['conv1.weight', 'bn1.running_var', 'layer1.0.conv1.weight', 'layer2.0.downsample.0.weight', 'layer2.0.downsample.1.running_mean', 'layer4.1.bn2.bias']) {
      expect(n18).toContain(k);
    }
    expect(n18.some((k) => k.startsWith('layer1.0.downsample'))).toBe(false);
    const n50 = [...r50i.namedWeights().keys()];
    expect(n50).toHaveLength(320 - 53); // torchvision resnet50: 320 entries, 53 BN counters
    for (const k of ['layer1.0.downsample.0.weight', 'layer4.2.conv3.weight', 'layer4.2.bn3.running_var', 'fc.weight', 'fc.bias']) expect(n50).toContain(k);
    const block = r50i.child('layer2').child('0');
    expect((block.child('conv1') as Conv2d).stride).toBe(1);
    expect((block.child('conv2') as Conv2d).stride).toBe(2);
    expect((block.child('downsample').child('0') as Conv2d).stride).toBe(2);
    expect((r18i.child('conv1') as Conv2d).kernelSize).toEqual([7, 7]);
    expect((r18c.child('conv1') as Conv2d).kernelSize).toEqual([3, 3]);
    expect(r18c.children().map(([n]) => n)).not.toContain('maxpool');
    expect(r18i.children().map(([n]) => n)).toContain('maxpool');
  });

  it('output shapes for NHWC inputs, both stems, and no tensor left behind', () => {
    const cases: [Module, number[], number[]][] = [
      [r18i, [2, 16, 16, 3], [2, 512]],
      [r18c, [2, 8, 8, 3], [2, 128]],
      [r50i, [2, 16, 16, 3], [2, 1000]],
      [r50c, [2, 4, 4, 3], [2, 2048]],
    ];
    for (const [m, inShape, outShape] of cases) {
      const x = tf.randomNormal(inShape);
      const before = tf.memory().numTensors;
      for (const training of [true, false]) {
        const y = m.forward(x, { training });
        expect(y.shape).toEqual(outShape);
        expect(values(y).every(Number.isFinite)).toBe(true);
        y.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
    expect(r18i.outputDim).toBe(512);
    expect(r50c.outputDim).toBe(2048);
    expect(r18c.outputDim).toBe(128);
  });

  it('convNet6: 28 px grey and 32 px RGB inputs, featureDim and null', () => {
    for (const [shape, cfg, out] of [
      [[1, 28, 28, 1], { inChannels: 1 }, [1, 128]],
      [[1, 32, 32, 3], { featureDim: 64 }, [1, 64]],
      [[2, 9, 9, 3], { featureDim: null }, [2, 128]],
    ] as [number[], Parameters<typeof convNet6>[0], number[]][]) {
      const m = convNet6(cfg);
      const y = tf.tidy(() => m.forward(tf.randomNormal(shape), { training: true }));
      expect(y.shape).toEqual(out);
      expect(m.outputDim).toBe(out[1]);
      y.dispose();
      m.dispose();
    }
    const m = convNet6({ inChannels: 1 });
    const x = tf.zeros([1, 28, 28, 3]);
    expect(() => m.forward(x, { training: false })).toThrow(/1 channels/);
    tf.dispose(x);
    m.dispose();
  });

  it('zeroInitResidual zeroes the last BN of each branch, so a block starts as relu(shortcut)', () => {
    const r = resnet18({ stem: 'cifar', zeroInitResidual: true });
    const w = r.namedWeights();
    expect(values(w.get('layer1.0.bn2.weight')!).every((v) => v === 0)).toBe(true);
    expect(values(w.get('layer1.0.bn1.weight')!).every((v) => v === 1)).toBe(true);
    const block = r.child('layer1').child('1'); // identity shortcut, 64 channels
    const xs = randomArray(2 * 3 * 3 * 64, 4);
    const y = tf.tidy(() => block.forward(tf.tensor4d(xs, [2, 3, 3, 64]), { training: false }));
    expectClose(y.dataSync(), xs.map((v) => Math.max(v, 0)), 1e-6, 'block output');
    y.dispose();
    r.dispose();
  });

  it('projection heads: linear, MLP (SimCLR / MoCo v2), MLP with BN (no bias before BN), SimSiam output BN', () => {
    const lin = linearProjection({ inDim: 16, outDim: 8 });
    const mlp = mlpProjection({ inDim: 16, hiddenDim: 32, outDim: 8 });
    const bn = mlpProjection({ inDim: 16, hiddenDim: 32, outDim: 8, layers: 3, batchNorm: true, lastBatchNorm: true });
    const x = tf.randomNormal([4, 16]);
    for (const head of [lin, mlp, bn]) {
      for (const training of [true, false]) {
        const y = head.forward(x, { training });
        expect(y.shape).toEqual([4, 8]);
        y.dispose();
      }
    }
    expect([...mlp.namedParameters().keys()]).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']);
    expect([...bn.namedParameters().keys()]).toEqual([
      'layers.0.weight', 'layers.1.weight', 'layers.1.bias', 'layers.2.weight', 'layers.3.weight', 'layers.3.bias', 'layers.4.weight',
    ]);
    expect(bn.child('layers').child('5')).toBeInstanceOf(BatchNorm);
    expect(mlp.numParameters()).toBe(16 * 32 + 32 + 32 * 8 + 8);
    // MLP output equals W2·relu(W1·x + b1) + b2 computed by hand.
    const p = mlp.namedParameters();
    const [W1, b1, W2, b2] = ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias'].map((k) => values(p.get(k)!));
    const xs = values(x);
    const ref: number[] = [];
    for (let n = 0; n < 4; n++) {
      const h = Array.from({ length: 32 }, (_, j) => Math.max(0, b1[j] + Array.from({ length: 16 }, (_, i) => xs[n * 16 + i] * W1[i * 32 + j]).reduce((a, b) => a + b, 0)));
      for (let o = 0; o < 8; o++) ref.push(b2[o] + h.reduce((a, v, j) => a + v * W2[j * 8 + o], 0));
    }
    const y = mlp.forward(x, { training: false });
    expectClose(y.dataSync(), ref, 1e-4, 'mlp');
    tf.dispose([x, y]);
    for (const h of [lin, mlp, bn]) h.dispose();
  });
});
