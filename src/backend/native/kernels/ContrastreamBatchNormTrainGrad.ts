/**
 * 'ContrastreamBatchNormTrainGrad': one fused pass over dy and x computing dx, dgamma, dbeta of
 * 'ContrastreamBatchNormTrain' (formulas in batchNormTrainMath.ts), the ReLU mask included.
 * Inputs dy, x, gamma, beta, mean, variance, y (y gives the ReLU mask to the JS loops; the native
 * kernel recomputes it from x with the forward pass's own arithmetic); attrs epsilon, relu;
 * outputs dx, dgamma [C], dbeta [C].
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, f32View, heap, offsetOf } from '../wasmHeap.ts';
import { batchNormTrainBackward } from './batchNormTrainMath.ts';
import type { BatchNormTrainAttrs } from './ContrastreamBatchNormTrain.ts';

export const BATCH_NORM_TRAIN_GRAD = 'ContrastreamBatchNormTrainGrad';

const NAMES = ['dy', 'x', 'gamma', 'beta', 'mean', 'variance', 'y'] as const;

interface Checked {
  t: Record<(typeof NAMES)[number], tf.TensorInfo>;
  rows: number;
  channels: number;
  epsilon: number;
  relu: boolean;
}

function check(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap | undefined): Checked {
  const t = {} as Checked['t'];
  for (const n of NAMES) {
    const v = inputs[n];
    if (v === undefined || v === null) throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, n, 'is required');
    t[n] = v;
  }
  checkFloat32(BATCH_NORM_TRAIN_GRAD, t);
  const { epsilon, relu } = (attrs ?? {}) as unknown as BatchNormTrainAttrs;
  const x = t.x;
  if (x.shape.length < 2) throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, 'x', `must have rank >= 2, got [${x.shape}]`);
  const channels = x.shape[x.shape.length - 1];
  for (const n of ['dy', 'y'] as const) {
    if (!tf.util.arraysEqual(t[n].shape, x.shape)) {
      throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, n, `has shape [${t[n].shape}], expected [${x.shape}]`);
    }
  }
  for (const n of ['gamma', 'beta', 'mean', 'variance'] as const) {
    if (tf.util.sizeFromShape(t[n].shape) !== channels) {
      throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, n, `must have ${channels} elements, got [${t[n].shape}]`);
    }
  }
  if (!(typeof epsilon === 'number' && epsilon > 0)) {
    throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, 'epsilon', `must be a positive number, got ${epsilon}`);
  }
  const rows = tf.util.sizeFromShape(x.shape) / Math.max(1, channels);
  if (rows < 1 || channels < 1) throw new ArgumentError(BATCH_NORM_TRAIN_GRAD, 'x', `is empty ([${x.shape}])`);
  return { t, rows, channels, epsilon, relu: !!relu };
}

export function nativeBatchNormTrainGradConfig(addon: NativeAddon): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { t, rows, channels, epsilon, relu } = check(inputs, attrs);
      const b = backend as BackendWasm;
      const dx = b.makeOutput(t.x.shape, 'float32');
      const dgamma = b.makeOutput([channels], 'float32');
      const dbeta = b.makeOutput([channels], 'float32');
      addon.batchNormTrainGrad(
        heap(b), offsetOf(b, t.dy), offsetOf(b, t.x), offsetOf(b, t.gamma), offsetOf(b, t.beta),
        offsetOf(b, t.mean), offsetOf(b, t.variance), offsetOf(b, dx), offsetOf(b, dgamma), offsetOf(b, dbeta),
        rows, channels, epsilon, relu ? 1 : 0,
      );
      return [dx, dgamma, dbeta];
    },
  };
}

export function jsWasmBatchNormTrainGradConfig(): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN_GRAD,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { t, rows, channels, epsilon, relu } = check(inputs, attrs);
      const b = backend as BackendWasm;
      const dx = b.makeOutput(t.x.shape, 'float32');
      const dgamma = b.makeOutput([channels], 'float32');
      const dbeta = b.makeOutput([channels], 'float32');
      const v = (x: tf.TensorInfo) => f32View(b, x);
      batchNormTrainBackward(
        v(t.dy), v(t.x), v(t.y), v(t.gamma), v(t.mean), v(t.variance), rows, channels, epsilon, relu,
        v(dx), v(dgamma), v(dbeta),
      );
      return [dx, dgamma, dbeta];
    },
  };
}

export function cpuBatchNormTrainGradConfig(): tf.KernelConfig {
  return {
    kernelName: BATCH_NORM_TRAIN_GRAD,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend: be, attrs }) => {
      const backend = be as tf.KernelBackend;
      const { t, rows, channels, epsilon, relu } = check(inputs, attrs);
      const r = (x: tf.TensorInfo) => backend.readSync(x.dataId) as Float32Array;
      const dx = new Float32Array(rows * channels);
      const dgamma = new Float32Array(channels);
      const dbeta = new Float32Array(channels);
      batchNormTrainBackward(
        r(t.dy), r(t.x), r(t.y), r(t.gamma), r(t.mean), r(t.variance), rows, channels, epsilon, relu,
        dx, dgamma, dbeta,
      );
      const make = (shape: number[], v: Float32Array): tf.TensorInfo =>
        ({ dataId: backend.write(v, shape, 'float32'), shape, dtype: 'float32' });
      return [make(t.x.shape, dx), make([channels], dgamma), make([channels], dbeta)];
    },
  };
}
