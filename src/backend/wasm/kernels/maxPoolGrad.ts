/**
 * MaxPoolGrad for the wasm backend, replacing the stock one, which is wrong: it starts each
 * window's running maximum at FLT_MIN (the smallest positive float) instead of −∞, so a window
 * whose values are all ≤ 0 — every all-zero window after a ReLU, every negative window before
 * one — passes no gradient at all (caught by test/backend/wasmKernels.test.ts).
 *
 *   dx[b, y, x, c] = Σ_{(oy, ox) : argmax of window (oy, ox) in channel c is (y, x)} dy[b, oy, ox, c]
 * with the argmax taken as the first maximum in row-major window order over the taps inside
 * the input (the cpu backend's rule). One SIMD pass (simdModule.ts maxPoolGrad): four channels
 * at a time, running maximum and its position per lane, then a scatter-add of dy.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: tf.NamedAttrMap }): Info {
  const { inputs, backend } = args;
  const dy = inputs.dy as Info;
  const x = inputs.input as Info;
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new ArgumentError('wasm MaxPoolGrad', 'input, dy', `must be float32, got ${x.dtype} and ${dy.dtype}`);
  }
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const s = new KernelScope(backend);
  try {
    const dx = s.zeros(x.shape.slice());
    simdKernels(backend).maxPoolGrad(
      ptr(backend, x), ptr(backend, dy), ptr(backend, dx),
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left,
    );
    return s.keep(dx);
  } finally {
    s.dispose();
  }
}

export const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
};
