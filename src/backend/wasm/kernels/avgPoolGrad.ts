/**
 * AvgPoolGrad for the wasm backend, replacing the stock one (a scalar loop, ~50x slower than
 * the forward pooling) with one SIMD pass (simdModule.ts avgPoolGrad):
 *   dx[b, y, x, c] = Σ_{windows (oy, ox) containing (y, x)} dy[b, oy, ox, c] / n(oy, ox)
 * where n(oy, ox) is the number of the window's taps inside the input. That is the exact
 * gradient of tfjs' forward avgPool, which averages over the taps inside the input only.
 * (tfjs' cpu and stock wasm AvgPoolGrad divide by kh·kw everywhere, so they differ from this at
 * the borders of 'same'-padded windows; TensorFlow, hence tfjs-node, divides like here.)
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

export function avgPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: tf.NamedAttrMap }): Info {
  const { inputs, backend } = args;
  const dy = inputs.dy as Info;
  const x = inputs.input as Info;
  const { filterSize, strides, pad } = args.attrs as unknown as tf.AvgPoolGradAttrs;
  const { dimRoundingMode } = args.attrs as { dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  if (dy.dtype !== 'float32') throw new ArgumentError('wasm AvgPoolGrad', 'dy', `must be float32, got ${dy.dtype}`);
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode);
  const s = new KernelScope(backend);
  try {
    const dx = s.zeros(x.shape.slice());
    simdKernels(backend).avgPoolGrad(
      ptr(backend, dy), ptr(backend, dx),
      info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
      info.padInfo.top, info.padInfo.left,
    );
    return s.keep(dx);
  } finally {
    s.dispose();
  }
}

export const avgPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.AvgPoolGrad,
  backendName: 'wasm',
  kernelFunc: avgPoolGrad as unknown as tf.KernelFunc,
};
