/**
 * 'ContrastreamBatchNormTrain': fused training batch norm (+ ReLU) used by
 * src/ops/batchNormTraining.ts. Inputs x [..., C], gamma [C], beta [C]; attrs epsilon, relu;
 * outputs y (shape of x), mean [C], variance [C] (biased).
 *
 * Three implementations: native (wasm heap, multi-threaded), JS loops on wasm heap views (when
 * the addon is absent), JS loops on the cpu backend (reference for tests).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, f32View, heap, offsetOf } from '../wasmHeap.ts';
import { batchNormTrainForward } from './batchNormTrainMath.ts';

export const BATCH_NORM_TRAIN = 'ContrastreamBatchNormTrain';

export interface BatchNormTrainAttrs {
  epsilon: number;
  relu: boolean;
}

interface Checked {
  x: tf.TensorInfo;
  gamma: tf.TensorInfo;
  beta: tf.TensorInfo;
  rows: number;
  channels: number;
  epsilon: number;
  relu: boolean;
}

function check(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap | undefined): Checked {
  const { x, gamma, beta } = inputs;
  const { epsilon, relu } = (attrs ?? {}) as unknown as BatchNormTrainAttrs;
  if (x === undefined || gamma === undefined || beta === undefined) {
    throw new ArgumentError(BATCH_NORM_TRAIN, 'x/gamma/beta', 'are all required');
  }
  checkFloat32(BATCH_NORM_TRAIN, { x, gamma, beta });
  if (x.shape.length < 2) throw new ArgumentError(BATCH_NORM_TRAIN, 'x', `must have rank >= 2, got [${x.shape}]`);
  const channels = x.shape[x.shape.length - 1];
  if (tf.util.sizeFromShape(gamma.shape) !== channels || tf.util.sizeFromShape(beta.shape) !== channels) {
    throw new ArgumentError(BATCH_NORM_TRAIN, 'gamma/beta', `must have ${channels} elements, got [${gamma.shape}] and [${beta.shape}]`);
  }
  if (!(typeof epsilon === 'number' && epsilon > 0)) {
    throw new ArgumentError(BATCH_NORM_TRAIN, 'epsilon', `must be a positive number, got ${epsilon}`);
  }
  const rows = tf.util.sizeFromShape(x.shape) / Math.max(1, channels);
  if (rows < 1 || channels < 1) throw new ArgumentError(BATCH_NORM_TRAIN, 'x', `is empty ([${x.shape}])`);
  return { x, gamma, beta, rows, channels, epsilon, relu: !!relu };
}

export function nativeBatchNormTrainConfig(addon: NativeAddon): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const c = check(inputs, attrs);
      const b = backend as BackendWasm;
      const y = b.makeOutput(c.x.shape, 'float32');
      const mean = b.makeOutput([c.channels], 'float32');
      const variance = b.makeOutput([c.channels], 'float32');
      addon.batchNormTrain(
        heap(b), offsetOf(b, c.x), offsetOf(b, c.gamma), offsetOf(b, c.beta), offsetOf(b, y),
        offsetOf(b, mean), offsetOf(b, variance), c.rows, c.channels, c.epsilon, c.relu ? 1 : 0,
      );
      return [y, mean, variance];
    },
  };
}

export function jsWasmBatchNormTrainConfig(): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const c = check(inputs, attrs);
      const b = backend as BackendWasm;
      const y = b.makeOutput(c.x.shape, 'float32');
      const mean = b.makeOutput([c.channels], 'float32');
      const variance = b.makeOutput([c.channels], 'float32');
      // Views taken after every allocation: the heap may have grown.
      batchNormTrainForward(
        f32View(b, c.x), f32View(b, c.gamma), f32View(b, c.beta), c.rows, c.channels, c.epsilon, c.relu,
        f32View(b, y), f32View(b, mean), f32View(b, variance),
      );
      return [y, mean, variance];
    },
  };
}

export function cpuBatchNormTrainConfig(): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend: be, attrs }) => {
      const backend = be as tf.KernelBackend;
      const c = check(inputs, attrs);
      const read = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
      const y = new Float32Array(c.rows * c.channels);
      const mean = new Float32Array(c.channels);
      const variance = new Float32Array(c.channels);
      batchNormTrainForward(read(c.x), read(c.gamma), read(c.beta), c.rows, c.channels, c.epsilon, c.relu, y, mean, variance);
      const make = (shape: number[], v: Float32Array): tf.TensorInfo =>
        ({ dataId: backend.write(v, shape, 'float32'), shape, dtype: 'float32' });
      return [make(c.x.shape, y), make([c.channels], mean), make([c.channels], variance)];
    },
  };
}
