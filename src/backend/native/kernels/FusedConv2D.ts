/**
 * FusedConv2D (conv + bias + activation) on the wasm backend through the native addon.
 * Native: NHWC, bias absent or of shape [Co], activation 'linear' or 'relu' (fused into the GEMM
 * epilogue). Anything else (prelu, leakyrelu, relu6, elu, sigmoid, a broadcast bias) goes to the
 * kernel that was registered before this one (the stock wasm kernel); without one it throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { checkFloat32, heap, input, offsetOf } from '../wasmHeap.ts';
import { checkNHWC, convGeometry } from './convGeometry.ts';

const NATIVE_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1 };

export function nativeFusedConv2DConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.FusedConv2D,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const x = input(inputs, 'x', 'FusedConv2D');
      const filter = input(inputs, 'filter', 'FusedConv2D');
      const { bias, preluActivationWeights } = inputs as unknown as tf.FusedConv2DInputs;
      const { strides, pad, dataFormat, dilations, dimRoundingMode, activation } =
        attrs as unknown as tf.FusedConv2DAttrs;
      checkFloat32('FusedConv2D', { x, filter, bias });
      if (x.shape.length !== 4 || filter.shape.length !== 4) {
        throw new ArgumentError('FusedConv2D', 'x/filter', `must both be rank 4, got [${x.shape}] and [${filter.shape}]`);
      }
      const co = filter.shape[3];
      const act = NATIVE_ACTIVATIONS[activation ?? 'linear'];
      const biasOk = bias == null || (bias.shape.length === 1 && bias.shape[0] === co);
      const formatOk = dataFormat === undefined || dataFormat === 'NHWC';
      if (act === undefined || preluActivationWeights != null || !biasOk || !formatOk) {
        if (previous === undefined) {
          throw new Error(
            `FusedConv2D: activation '${activation}'${biasOk ? '' : `, bias of shape [${bias?.shape}]`}` +
              `${formatOk ? '' : `, dataFormat '${dataFormat}'`} is not supported natively and no fallback kernel is registered`,
          );
        }
        return previous.kernelFunc(args);
      }
      checkNHWC('FusedConv2D', dataFormat);
      if (x.shape[3] !== filter.shape[2]) {
        throw new ArgumentError('FusedConv2D', 'filter', `expects ${filter.shape[2]} input channels but x has ${x.shape[3]}`);
      }
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filter.shape as [number, number, number, number],
        strides, dilations, pad, dimRoundingMode, false, 'channelsLast',
      );
      const b = backend as BackendWasm;
      const out = b.makeOutput(info.outShape, 'float32');
      if (tf.util.sizeFromShape(info.outShape) === 0) return out;
      const biasOff = bias == null ? -1 : offsetOf(b, bias);
      addon.conv2d(heap(b), offsetOf(b, x), offsetOf(b, filter), biasOff, offsetOf(b, out), ...convGeometry(info), act);
      return out;
    },
  };
}
