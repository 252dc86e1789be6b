/**
 * BatchMatMul on the wasm backend through the native SGEMM, for every transpose combination and
 * batch size (stock wasm takes its fast path only without transposes at batch 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../loadNative.ts';
import { input } from '../wasmHeap.ts';
import { nativeMatMul } from './matMulCore.ts';

export function nativeBatchMatMulConfig(addon: NativeAddon, previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.BatchMatMul,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = input(inputs, 'a', 'BatchMatMul');
      const b = input(inputs, 'b', 'BatchMatMul');
      const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
      return nativeMatMul('BatchMatMul', addon, backend as BackendWasm, a, b, !!transposeA, !!transposeB, null, 0);
    },
  };
}
