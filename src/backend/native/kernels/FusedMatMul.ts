/**
 * _FusedMatMul (matmul + bias + activation) on the wasm backend through the native SGEMM.
 * Native: bias absent or with one element per output column, activation 'linear' or 'relu'.
 * Other activations (prelu, leakyrelu, relu6, elu, sigmoid) or a broadcast bias go to the kernel
 * registered before this one; without one it throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { input } from '../wasmHeap.ts';
import { nativeMatMul } from './matMulCore.ts';

const NATIVE_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1 };

export function nativeFusedMatMulConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf._FusedMatMul,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const a = input(inputs, 'a', '_FusedMatMul');
      const b = input(inputs, 'b', '_FusedMatMul');
      const { bias, preluActivationWeights } = inputs as unknown as tf._FusedMatMulInputs;
      const { transposeA, transposeB, activation } = attrs as unknown as tf._FusedMatMulAttrs;
      const act = NATIVE_ACTIVATIONS[activation ?? 'linear'];
      const n = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
      const biasOk = bias == null || (tf.util.sizeFromShape(bias.shape) === n && bias.shape[bias.shape.length - 1] === n);
      if (act === undefined || preluActivationWeights != null || !biasOk) {
        if (previous === undefined) {
          throw new Error(
            `_FusedMatMul: activation '${activation}'${biasOk ? '' : ` with bias [${bias?.shape}]`} is not supported natively and no fallback kernel is registered`,
          );
        }
        return previous.kernelFunc(args);
      }
      return nativeMatMul('_FusedMatMul', addon, backend as BackendWasm, a, b, !!transposeA, !!transposeB, bias ?? null, act);
    },
  };
}
