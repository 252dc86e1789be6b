import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { useCpuWithGradients, randomArray, values, expectClose, onlyResult } from './support.ts';
import { Conv2d } from '../../src/models/conv2d.ts';
import { BatchNorm } from '../../src/models/batchNorm.ts';
import { Linear } from '../../src/models/linear.ts';
import { MaxPool } from '../../src/models/maxPool.ts';
import { GlobalAvgPool } from '../../src/models/globalAvgPool.ts';
import { Sequential } from '../../src/models/sequential.ts';
import { ReLU } from '../../src/models/relu.ts';
import { Module } from '../../src/models/module.ts';
import { l2Normalize } from '../../src/models/l2Normalize.ts';
import { deferBufferUpdates } from '../../src/models/bufferUpdates.ts';
import { SeededRandom } from '../../src/models/init.ts';
import { ArgumentError } from '../../src/errors.ts';

/** Slow NHWC convolution from the definition, with PyTorch's symmetric zero padding. */
function convSlow(x: Float32Array, [n, h, w, ci]: number[], wt: Float32Array, [kh, kw, , co]: number[], s: number, p: number, bias?: Float32Array) {
  const ho = Math.floor((h + 2 * p - kh) / s) + 1;
  const wo = Math.floor((w + 2 * p - kw) / s) + 1;
  const out = new Float32Array(n * ho * wo * co);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let o = 0; o < co; o++) {
          let acc = bias ? bias[o] : 0;
          for (let di = 0; di < kh; di++)
            for (let dj = 0; dj < kw; dj++) {
              const r = i * s - p + di;
              const c = j * s - p + dj;
              if (r < 0 || r >= h || c < 0 || c >= w) continue;
              for (let k = 0; k < ci; k++) acc += x[((b * h + r) * w + c) * ci + k] * wt[((di * kw + dj) * ci + k) * co + o];
            }
          out[((b * ho + i) * wo + j) * co + o] = acc;
        }
  return { out, shape: [n, ho, wo, co] };
}

function stats(a: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2;
  return { mean: m, std: Math.sqrt(v / a.length) };
}

/** Per-channel mean and biased variance over all but the last axis. */
function channelStats(x: Float32Array, c: number) {
  const n = x.length / c;
  const mean = new Float64Array(c);
  const vr = new Float64Array(c);
  for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / n;
  for (let i = 0; i < x.length; i++) vr[i % c] += (x[i] - mean[i % c]) ** 2 / n;
  return { mean, vr, n };
}

describe('models: layers', () => {
  beforeAll(useCpuWithGradients);

  it('Conv2d matches a slow loop with PyTorch padding (random shapes, strides, kernels, bias)', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }),
          h: fc.integer({ min: 1, max: 7 }),
          w: fc.integer({ min: 1, max: 7 }),
          ci: fc.integer({ min: 1, max: 3 }),
          co: fc.integer({ min: 1, max: 3 }),
          k: fc.integer({ min: 1, max: 3 }),
          s: fc.integer({ min: 1, max: 2 }),
          bias: fc.boolean(),
          seed: fc.integer({ min: 0, max: 1e6 }),
        }),
        ({ n, h, w, ci, co, k, s, bias, seed }) => {
          const p = Math.floor(k / 2);
          fc.pre(h + 2 * p >= k && w + 2 * p >= k);
          const conv = new Conv2d({ inChannels: ci, outChannels: co, kernelSize: k, stride: s, bias, seed });
          if (conv.bias !== undefined) conv.bias.assign(tf.tensor1d(randomArray(co, seed + 1)));
          const xs = randomArray(n * h * w * ci, seed + 2);
          const y = tf.tidy(() => conv.forward(tf.tensor4d(xs, [n, h, w, ci])));
          const ref = convSlow(xs, [n, h, w, ci], conv.weight.dataSync() as Float32Array, conv.weight.shape, s, p, conv.bias?.dataSync() as Float32Array | undefined);
          expect(y.shape).toEqual(ref.shape);
          expectClose(y.dataSync(), ref.out, 1e-4, 'conv');
          y.dispose();
          conv.dispose();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('Conv2d He init: N(0, 2/fan_out) by default, fan_in on request, reproducible per seed', () => {
    const a = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, seed: 7 });
    const st = stats(a.weight.dataSync());
    expect(Math.abs(st.mean)).toBeLessThan(0.01 * Math.sqrt(2 / (9 * 64)) * 10);
    expect(st.std / Math.sqrt(2 / (9 * 64))).toBeGreaterThan(0.98);
    expect(st.std / Math.sqrt(2 / (9 * 64))).toBeLessThan(1.02);
    const f = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, seed: 7, init: 'fanIn' });
    expect(stats(f.weight.dataSync()).std / Math.sqrt(2 / (9 * 32))).toBeCloseTo(1, 1);
    const b = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, seed: 7 });
    const c = new Conv2d({ inChannels: 32, outChannels: 64, kernelSize: 3, seed: 8 });
    expect(values(b.weight)).toEqual(values(a.weight));
    expect(values(c.weight)).not.toEqual(values(a.weight));
    expect(a.bias).toBeUndefined();
    for (const m of [a, b, c, f]) m.dispose();
  });

  it('Conv2d checks its input and names the function', () => {
    const conv = new Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3 });
    const x = tf.zeros([1, 5, 5, 2]);
    expect(() => conv.forward(x)).toThrow(ArgumentError);
    expect(() => conv.forward(x)).toThrow(/Conv2d\.forward.*3 channels/);
    expect(() => new Conv2d({ inChannels: 0, outChannels: 4, kernelSize: 3 })).toThrow(/inChannels/);
    x.dispose();
    conv.dispose();
  });

  it('BatchNorm training: batch statistics, fused ReLU, running stats with momentum 0.1 and unbiased variance', () => {
    const c = 3;
    const shape = [2, 3, 2, c];
    const xs = randomArray(36, 11, 2).map((v, i) => v + (i % c)); // channel means differ
    const gamma = randomArray(c, 12);
    const beta = randomArray(c, 13);
    for (const relu of [false, true]) {
      const bn = new BatchNorm({ numFeatures: c, relu });
      (bn.weight as tf.Variable).assign(tf.tensor1d(gamma));
      (bn.bias as tf.Variable).assign(tf.tensor1d(beta));
      const x = tf.tensor(xs, shape);
      const y = onlyResult(() => bn.forward(x, { training: true }));
      const { mean, vr, n } = channelStats(xs, c);
      const ref = xs.map((v, i) => {
        const z = (gamma[i % c] * (v - mean[i % c])) / Math.sqrt(vr[i % c] + 1e-5) + beta[i % c];
        return relu ? Math.max(z, 0) : z;
      });
      expectClose(y.dataSync(), ref, 1e-4, 'bn train');
      expectClose(bn.runningMean.dataSync(), Array.from(mean, (m) => 0.1 * m), 1e-5, 'running mean');
      expectClose(bn.runningVar.dataSync(), Array.from(vr, (v) => 0.9 + 0.1 * v * (n / (n - 1))), 1e-5, 'running var');
      // A second pass moves the averages again.
      tf.dispose(bn.forward(x, { training: true }));
      expectClose(bn.runningMean.dataSync(), Array.from(mean, (m) => 0.9 * 0.1 * m + 0.1 * m), 1e-5, 'running mean 2');
      tf.dispose([x, y]);
      bn.dispose();
    }
  });

  it('BatchNorm eval uses the running statistics and does not change them', () => {
    const c = 2;
    const bn = new BatchNorm({ numFeatures: c });
    bn.runningMean.assign(tf.tensor1d([0.5, -1]));
    bn.runningVar.assign(tf.tensor1d([4, 0.25]));
    (bn.weight as tf.Variable).assign(tf.tensor1d([2, 3]));
    (bn.bias as tf.Variable).assign(tf.tensor1d([0.1, -0.2]));
    const xs = randomArray(8, 3, 3);
    const x = tf.tensor2d(xs, [4, c]);
    const y = onlyResult(() => bn.forward(x, { training: false }));
    const rm = [0.5, -1];
    const rv = [4, 0.25];
    const g = [2, 3];
    const b = [0.1, -0.2];
    expectClose(y.dataSync(), xs.map((v, i) => (g[i % c] * (v - rm[i % c])) / Math.sqrt(rv[i % c] + 1e-5) + b[i % c]), 1e-5, 'bn eval');
    expect(values(bn.runningMean)).toEqual([0.5, -1]);
    tf.dispose([x, y]);
    bn.dispose();
  });

  it('BatchNorm running-stat updates are deferred inside deferBufferUpdates: commit applies, discard drops', () => {
    const bn = new BatchNorm({ numFeatures: 2 });
    const x = tf.tensor2d([1, 2, 3, 6], [2, 2]);
    const before = tf.memory().numTensors;
    const first = deferBufferUpdates(() => tf.dispose(bn.forward(x, { training: true })));
    expect(first.pending.size).toBe(1);
    expect(values(bn.runningMean)).toEqual([0, 0]);
    first.pending.discard();
    expect(values(bn.runningMean)).toEqual([0, 0]);
    expect(tf.memory().numTensors).toBe(before);
    const second = deferBufferUpdates(() => tf.dispose(bn.forward(x, { training: true })));
    second.pending.commit();
    expectClose(bn.runningMean.dataSync(), [0.2, 0.4], 1e-6, 'committed mean');
    expect(tf.memory().numTensors).toBe(before);
    expect(() => second.pending.commit()).toThrow(/already/);
    tf.dispose(x);
    bn.dispose();
  });

  it('BatchNorm refuses one value per channel in training, zeroInit gives gamma 0, affine false has no parameters', () => {
    const bn = new BatchNorm({ numFeatures: 2 });
    const x = tf.ones([1, 2]);
    expect(() => bn.forward(x, { training: true })).toThrow(/at least 2/);
    expect(values(new BatchNorm({ numFeatures: 2, zeroInit: true }).weight)).toEqual([0, 0]);
    const plain = new BatchNorm({ numFeatures: 2, affine: false });
    expect(plain.parameters()).toHaveLength(0);
    expect([...plain.namedBuffers().keys()]).toEqual(['running_mean', 'running_var']);
    tf.dispose(x);
  });

  it('Linear is x·W + b with PyTorch default init bounds', () => {
    const lin = new Linear({ inFeatures: 4, outFeatures: 3, seed: 5 });
    const bound = 1 / Math.sqrt(4);
    for (const v of [...values(lin.weight), ...values(lin.bias!)]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    const xs = randomArray(8, 9);
    const y = tf.tidy(() => lin.forward(tf.tensor2d(xs, [2, 4])));
    const W = values(lin.weight);
    const b = values(lin.bias!);
    const ref: number[] = [];
    for (let n = 0; n < 2; n++) for (let o = 0; o < 3; o++) ref.push(b[o] + [0, 1, 2, 3].reduce((a, i) => a + xs[n * 4 + i] * W[i * 3 + o], 0));
    expectClose(y.dataSync(), ref, 1e-5, 'linear');
    tf.dispose(y);
    lin.dispose();
  });

  it('MaxPool with padding never lets the padding win (−∞ padding, as PyTorch) and GlobalAvgPool averages H, W', () => {
    const [n, h, w, c] = [1, 5, 4, 2];
    const xs = randomArray(n * h * w * c, 21).map((v) => v - 2); // all negative: zero padding would show
    const pool = new MaxPool({ kernelSize: 3, stride: 2, padding: 1 });
    const y = tf.tidy(() => pool.forward(tf.tensor4d(xs, [n, h, w, c])));
    const ho = Math.floor((h + 2 - 3) / 2) + 1;
    const wo = Math.floor((w + 2 - 3) / 2) + 1;
    expect(y.shape).toEqual([n, ho, wo, c]);
    const ref: number[] = [];
    for (let i = 0; i < ho; i++)
      for (let j = 0; j < wo; j++)
        for (let k = 0; k < c; k++) {
          let m = -Infinity;
          for (let di = 0; di < 3; di++)
            for (let dj = 0; dj < 3; dj++) {
              const r = i * 2 - 1 + di;
              const q = j * 2 - 1 + dj;
              if (r >= 0 && r < h && q >= 0 && q < w) m = Math.max(m, xs[(r * w + q) * c + k]);
            }
          ref.push(m);
        }
    expectClose(y.dataSync(), ref, 1e-6, 'maxpool');
    const g = tf.tidy(() => new GlobalAvgPool().forward(tf.tensor4d(xs, [n, h, w, c])));
    expect(g.shape).toEqual([1, 2]);
    expectClose(g.dataSync(), [0, 1].map((k) => xs.filter((_, i) => i % c === k).reduce((a, b) => a + b, 0) / (h * w)), 1e-5, 'gap');
    tf.dispose([y, g]);
  });

  it('Module: dotted PyTorch-style names, parameters vs buffers, duplicate names refused, dispose frees everything', () => {
    const before = tf.memory().numTensors;
    class Net extends Module {
      readonly body: Sequential;
      constructor() {
        super();
        this.body = this.addModule('body', new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 }), new BatchNorm({ numFeatures: 2 }), new ReLU()]));
        this.addModule('head', new Linear({ inFeatures: 2, outFeatures: 1 }));
        expect(() => this.addModule('head', new ReLU())).toThrow(/already registered/);
        expect(() => this.addModule('a.b', new ReLU())).toThrow(ArgumentError);
      }
      forward(x: tf.Tensor) {
        return x;
      }
    }
    const net = new Net();
    expect([...net.namedParameters().keys()]).toEqual(['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias']);
    expect([...net.namedBuffers().keys()]).toEqual(['body.1.running_mean', 'body.1.running_var']);
    expect([...net.namedWeights().keys()]).toHaveLength(7);
    expect(net.parameters().every((v) => v.trainable)).toBe(true);
    expect([...net.namedBuffers().values()].every((v) => !v.trainable)).toBe(true);
    expect(net.numParameters()).toBe(9 * 2 + 2 + 2 + 2 + 1);
    expect(net.modules().map(([n]) => n)).toEqual(['', 'body', 'body.0', 'body.1', 'body.2', 'head']);
    expect(tf.memory().numTensors).toBe(before + 7);
    net.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => net.namedWeights()).toThrow(/after dispose/);
  });

  it('Sequential forward frees its intermediates', () => {
    const seq = new Sequential([new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3 }), new BatchNorm({ numFeatures: 3, relu: true }), new GlobalAvgPool(), new Linear({ inFeatures: 3, outFeatures: 2 })]);
    const x = tf.randomNormal([2, 4, 4, 2]);
    const before = tf.memory().numTensors;
    for (const training of [true, false]) {
      const y = seq.forward(x, { training });
      expect(y.shape).toEqual([2, 2]);
      y.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    x.dispose();
    seq.dispose();
  });

  it('l2Normalize gives unit rows, maps a zero row to 0 with a finite gradient', () => {
    const xs = [3, 4, 0, 0, -1, 1];
    const x = tf.tensor2d(xs, [3, 2]);
    const y = onlyResult(() => l2Normalize(x));
    expectClose(y.dataSync(), [0.6, 0.8, 0, 0, -Math.SQRT1_2, Math.SQRT1_2], 1e-6, 'l2');
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(l2Normalize(t), tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]))))(x);
    expect(values(g).every(Number.isFinite)).toBe(true);
    // d/dx of <x/|x|, u> = (u − (x̂·u) x̂)/|x| for the first row: x̂ = (0.6, 0.8), u = (1, 2)
    const dot = 0.6 * 1 + 0.8 * 2;
    expectClose(values(g).slice(0, 2), [(1 - dot * 0.6) / 5, (2 - dot * 0.8) / 5], 1e-5, 'l2 grad');
    expect(() => l2Normalize(x, { axis: 2 })).toThrow(/axis/);
    tf.dispose([x, y, g]);
  });

  it('SeededRandom: reproducible, uniform in [0,1), normals with mean 0 and std 1', () => {
    const a = new SeededRandom(3);
    const b = new SeededRandom(3);
    const xs = Array.from({ length: 20000 }, () => a.normal());
    expect(Array.from({ length: 20000 }, () => b.normal())).toEqual(xs);
    const st = stats(xs);
    expect(Math.abs(st.mean)).toBeLessThan(0.03);
    expect(Math.abs(st.std - 1)).toBeLessThan(0.03);
    const u = Array.from({ length: 20000 }, () => a.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(stats(u).mean - 0.5)).toBeLessThan(0.01);
  });
});
