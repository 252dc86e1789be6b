/**
 * The fused training batch norm 'ContrastreamBatchNormTrain' (+ ReLU) and its gradient kernel,
 * in all three implementations (native on wasm, JS loops on the wasm heap, JS loops on cpu),
 * against batchNormTraining's composite tf-op path on the cpu backend (autodiff): y, mean,
 * variance and the gradients of x, gamma and beta, also when the loss uses mean and variance.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNormTraining } from '../../src/ops/batchNormTraining.ts';
import { batchNormTrainFallbackKernels, registerKernelConfigs } from '../../src/backend/native/nativeWasmKernels.ts';
import { BATCH_NORM_TRAIN } from '../../src/backend/native/kernels/ContrastreamBatchNormTrain.ts';
import { BATCH_NORM_TRAIN_GRAD } from '../../src/backend/native/kernels/ContrastreamBatchNormTrainGrad.ts';
import { expectAllClose, randomValues, runOn, setUpNative, skipReason } from './nativeSupport.ts';

interface BnCase {
  shape: number[];
  relu: boolean;
  useStats: boolean;
  offset: number;
  seed: number;
}

const bnCase: fc.Arbitrary<BnCase> = fc.record({
  shape: fc.oneof(
    fc.tuple(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 70 })).map(([r, c]) => [r, c]),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 40 }))
      .filter(([b, h, w]) => b * h * w >= 2)
      .map((s) => [...s]),
  ),
  relu: fc.boolean(),
  useStats: fc.boolean(),
  offset: fc.constantFrom(0, 3),
  seed: fc.integer(),
});

/** y, mean, variance and the gradients of x, gamma, beta for a random linear loss. */
function bnOutputs(c: BnCase): () => tf.Tensor[] {
  const C = c.shape[c.shape.length - 1];
  const size = c.shape.reduce((p, x) => p * x, 1);
  const xv = randomValues(size, c.seed).map((v) => v * 2 + c.offset);
  const gv = randomValues(C, c.seed + 1).map((v) => v + 1.5);
  const bv = randomValues(C, c.seed + 2);
  return () => {
    const x = tf.tensor(xv, c.shape);
    const gamma = tf.tensor1d(gv);
    const beta = tf.tensor1d(bv);
    const r = tf.tensor(randomValues(size, c.seed + 3), c.shape);
    const rm = tf.tensor1d(randomValues(C, c.seed + 4));
    const rv = tf.tensor1d(randomValues(C, c.seed + 5));
    const { y, mean, variance } = batchNormTraining(x, gamma, beta, { relu: c.relu, epsilon: 1e-3 });
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const o = batchNormTraining(a, g as tf.Tensor1D, b as tf.Tensor1D, { relu: c.relu, epsilon: 1e-3 });
      let l = tf.sum(tf.mul(o.y, r));
      if (c.useStats) l = tf.add(l, tf.add(tf.sum(tf.mul(o.mean, rm)), tf.sum(tf.mul(o.variance, rv))));
      return l as tf.Scalar;
    };
    return [y, mean, variance, ...tf.grads(loss)([x, gamma, beta])];
  };
}

const NAMES = ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'];

/** Reference: the composite path (no fused kernel registered for cpu). */
async function reference(c: BnCase): Promise<Float32Array[]> {
  expect(tf.getKernel(BATCH_NORM_TRAIN, 'cpu')).toBeUndefined();
  return runOn('cpu', bnOutputs(c));
}

const describeNative = skipReason === undefined ? describe : describe.skip;

describe('fused batch norm, JS implementations', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  });

  it('the cpu and wasm-heap JS kernels match the composite path', async () => {
    const [jsWasm, jsWasmGrad, cpu, cpuGrad] = batchNormTrainFallbackKernels();
    await fc.assert(
      fc.asyncProperty(bnCase, async (c) => {
        const expected = await reference(c);
        registerKernelConfigs([cpu, cpuGrad]);
        try {
          expectAllClose(await runOn('cpu', bnOutputs(c)), expected, NAMES, `cpu fused ${JSON.stringify(c)}`);
        } finally {
          tf.unregisterKernel(BATCH_NORM_TRAIN, 'cpu');
          tf.unregisterKernel(BATCH_NORM_TRAIN_GRAD, 'cpu');
        }
        registerKernelConfigs([jsWasm, jsWasmGrad]);
        expect(tf.getKernel(BATCH_NORM_TRAIN, 'wasm')?.kernelFunc).toBe(jsWasm.kernelFunc);
        expectAllClose(await runOn('wasm', bnOutputs(c)), expected, NAMES, `wasm JS ${JSON.stringify(c)}`);
      }),
      { numRuns: 20 },
    );
  });
});

describeNative(`fused batch norm, native${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(setUpNative);

  it('the native wasm kernels match the composite path', async () => {
    await fc.assert(
      fc.asyncProperty(bnCase, async (c) => {
        const expected = await reference(c);
        expect(tf.getKernel(BATCH_NORM_TRAIN, 'wasm')?.kernelFunc.toString()).toContain('addon.batchNormTrain');
        expectAllClose(await runOn('wasm', bnOutputs(c)), expected, NAMES, `native ${JSON.stringify(c)}`);
      }),
      { numRuns: 30 },
    );
  });

  it('handles activations large enough for the multi-threaded path', async () => {
    for (const c of [
      { shape: [4, 32, 32, 32], relu: true, useStats: false, offset: 3, seed: 11 },
      { shape: [2, 16, 16, 130], relu: false, useStats: true, offset: 0, seed: 12 },
    ]) {
      expectAllClose(await runOn('wasm', bnOutputs(c)), await reference(c), NAMES, `native ${JSON.stringify(c.shape)}`);
    }
  });
});
