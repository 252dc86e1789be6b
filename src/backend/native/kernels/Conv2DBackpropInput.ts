/**
 * Conv2DBackpropInput on the wasm backend through the native addon. Stride 1: a forward
 * indirect convolution of dy with the rotated, transposed filter. Larger strides:
 * dcol = dy W^T per block of output pixels, scattered into dx (col2im), one image per thread.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, heap, input, offsetOf } from '../wasmHeap.ts';
import { checkNHWC, convGeometry } from './convGeometry.ts';

export function nativeConv2DBackpropInputConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropInput,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const dy = input(inputs, 'dy', 'Conv2DBackpropInput');
      const filter = input(inputs, 'filter', 'Conv2DBackpropInput');
      const { inputShape, strides, pad, dataFormat, dimRoundingMode } =
        attrs as unknown as tf.Conv2DBackpropInputAttrs;
      checkFloat32('Conv2DBackpropInput', { dy, filter });
      checkNHWC('Conv2DBackpropInput', dataFormat);
      if (dy.shape.length !== 4 || filter.shape.length !== 4 || inputShape.length !== 4) {
        throw new ArgumentError(
          'Conv2DBackpropInput', 'dy/filter/inputShape',
          `must all be rank 4, got [${dy.shape}], [${filter.shape}], [${inputShape}]`,
        );
      }
      const info = tf.backend_util.computeConv2DInfo(
        inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode,
        false, 'channelsLast',
      );
      if (!tf.util.arraysEqual(info.outShape, dy.shape)) {
        throw new ArgumentError('Conv2DBackpropInput', 'dy', `has shape [${dy.shape}] but the convolution gives [${info.outShape}]`);
      }
      const b = backend as BackendWasm;
      const out = b.makeOutput(inputShape, 'float32');
      if (tf.util.sizeFromShape(inputShape) === 0) return out;
      if (tf.util.sizeFromShape(dy.shape) === 0) {
        new Float32Array(heap(b), offsetOf(b, out), tf.util.sizeFromShape(inputShape)).fill(0);
        return out;
      }
      addon.conv2dBackpropInput(heap(b), offsetOf(b, dy), offsetOf(b, filter), offsetOf(b, out), ...convGeometry(info));
      return out;
    },
  };
}
