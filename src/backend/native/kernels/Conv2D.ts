/**
 * Conv2D on the wasm backend through the native addon: indirect GEMM (one pointer per filter
 * tap into the NHWC input, no im2col buffer), multi-threaded over output pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, heap, input, offsetOf } from '../wasmHeap.ts';
import { checkNHWC, convGeometry } from './convGeometry.ts';

export function nativeConv2DConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2D,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = input(inputs, 'x', 'Conv2D');
      const filter = input(inputs, 'filter', 'Conv2D');
      const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as tf.Conv2DAttrs;
      checkFloat32('Conv2D', { x, filter });
      checkNHWC('Conv2D', dataFormat);
      if (x.shape.length !== 4 || filter.shape.length !== 4) {
        throw new ArgumentError('Conv2D', 'x/filter', `must both be rank 4, got [${x.shape}] and [${filter.shape}]`);
      }
      if (x.shape[3] !== filter.shape[2]) {
        throw new ArgumentError('Conv2D', 'filter', `expects ${filter.shape[2]} input channels but x has ${x.shape[3]}`);
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filter.shape as [number, number, number, number],
        strides, dilations, pad, dimRoundingMode, false, 'channelsLast',
      );
      const b = backend as BackendWasm;
      const out = b.makeOutput(info.outShape, 'float32');
      if (tf.util.sizeFromShape(info.outShape) === 0) return out;
      addon.conv2d(heap(b), offsetOf(b, x), offsetOf(b, filter), -1, offsetOf(b, out), ...convGeometry(info), 0);
      return out;
    },
  };
}
