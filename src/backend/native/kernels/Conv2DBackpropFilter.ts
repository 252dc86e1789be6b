/**
 * Conv2DBackpropFilter on the wasm backend through the native addon:
 * dW[kh*kw*Ci, Co] = im2col(x)^T dy, with im2col^T packed per block of output pixels and the
 * reduction over pixels split across threads (per-thread partial sums, then a reduction).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, heap, input, offsetOf } from '../wasmHeap.ts';
import { checkNHWC, convGeometry } from './convGeometry.ts';

export function nativeConv2DBackpropFilterConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = input(inputs, 'x', 'Conv2DBackpropFilter');
      const dy = input(inputs, 'dy', 'Conv2DBackpropFilter');
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      checkFloat32('Conv2DBackpropFilter', { x, dy });
      checkNHWC('Conv2DBackpropFilter', dataFormat);
      if (x.shape.length !== 4 || dy.shape.length !== 4 || filterShape.length !== 4) {
        throw new ArgumentError(
          'Conv2DBackpropFilter', 'x/dy/filterShape',
          `must all be rank 4, got [${x.shape}], [${dy.shape}], [${filterShape}]`,
        );
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast',
      );
      if (!tf.util.arraysEqual(info.outShape, dy.shape)) {
        throw new ArgumentError('Conv2DBackpropFilter', 'dy', `has shape [${dy.shape}] but the convolution gives [${info.outShape}]`);
      }
      if (x.shape[3] !== filterShape[2]) {
        throw new ArgumentError('Conv2DBackpropFilter', 'filterShape', `expects ${filterShape[2]} input channels but x has ${x.shape[3]}`);
      }
      const b = backend as BackendWasm;
      const out = b.makeOutput(filterShape, 'float32');
      if (tf.util.sizeFromShape(filterShape) === 0) return out;
      if (tf.util.sizeFromShape(dy.shape) === 0) {
        new Float32Array(heap(b), offsetOf(b, out), tf.util.sizeFromShape(filterShape)).fill(0);
        return out;
      }
      addon.conv2dBackpropFilter(heap(b), offsetOf(b, x), offsetOf(b, dy), offsetOf(b, out), ...convGeometry(info));
      return out;
    },
  };
}
