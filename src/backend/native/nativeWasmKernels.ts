/**
 * contrastream's native training kernels for the wasm backend (N-API addon, AVX-512/AVX2 SGEMM,
 * thread pool). Each kernel reads and writes tensors in the wasm heap directly (zero copy).
 *
 *   Conv2D, FusedConv2D (bias + linear/relu), Conv2DBackpropFilter, Conv2DBackpropInput,
 *   BatchMatMul, _FusedMatMul (bias + linear/relu), ContrastreamBatchNormTrain(+Grad),
 *   and a zero-copy Identity (the engine clones every tensor a gradient saves).
 *
 * Returns null when the addon cannot be loaded (then use the pure-wasm kernels). The caller
 * registers the configs (unregister the existing kernel first), before `tf.setBackend('wasm')`
 * so that the engine runs their setupFuncs; each config keeps the kernel that was registered
 * before it as a fallback for the cases it does not handle natively (e.g. prelu activations).
 * Calling this function also registers the batch-norm gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadNative, type NativeAddon } from './loadNative.ts';
import { previousKernel } from './wasmHeap.ts';
import { registerBatchNormTrainGradient } from './batchNormTrainGradient.ts';
import { nativeConv2DConfig } from './kernels/Conv2D.ts';
import { nativeFusedConv2DConfig } from './kernels/FusedConv2D.ts';
import { nativeConv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter.ts';
import { nativeConv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput.ts';
import { nativeBatchMatMulConfig } from './kernels/BatchMatMul.ts';
import { nativeFusedMatMulConfig } from './kernels/FusedMatMul.ts';
import { zeroCopyIdentityConfig } from './kernels/Identity.ts';
import {
  cpuBatchNormTrainConfig,
  jsWasmBatchNormTrainConfig,
  nativeBatchNormTrainConfig,
} from './kernels/ContrastreamBatchNormTrain.ts';
import {
  cpuBatchNormTrainGradConfig,
  jsWasmBatchNormTrainGradConfig,
  nativeBatchNormTrainGradConfig,
} from './kernels/ContrastreamBatchNormTrainGrad.ts';

export interface NativeWasmKernelsConfig {
  /** Threads of the native pool (the calling thread included). */
  threads: number;
  /** Environment (CONTRASTREAM_NATIVE=0 disables the addon). Default process.env. */
  env?: Record<string, string | undefined>;
}

export interface NativeWasmKernels {
  kernels: tf.KernelConfig[];
  /** e.g. 'native kernels avx512 (Conv2D, ...)'. */
  detail: string;
  threads: number;
}

/** Kernel configs built on a loaded addon (exported for tests that load it themselves). */
export function nativeWasmKernelConfigs(addon: NativeAddon): tf.KernelConfig[] {
  const prev = (name: string) => previousKernel(name, 'wasm');
  return [
    nativeConv2DConfig(addon, prev(tf.Conv2D)),
    nativeFusedConv2DConfig(addon, prev(tf.FusedConv2D)),
    nativeConv2DBackpropFilterConfig(addon, prev(tf.Conv2DBackpropFilter)),
    nativeConv2DBackpropInputConfig(addon, prev(tf.Conv2DBackpropInput)),
    nativeBatchMatMulConfig(addon, prev(tf.BatchMatMul)),
    nativeFusedMatMulConfig(addon, prev(tf._FusedMatMul)),
    nativeBatchNormTrainConfig(addon),
    nativeBatchNormTrainGradConfig(addon),
    zeroCopyIdentityConfig(prev(tf.Identity)),
  ];
}

export function nativeWasmKernels(config: NativeWasmKernelsConfig): NativeWasmKernels | null {
  const loaded = loadNative({ threads: config.threads, env: config.env });
  if (loaded.addon === null) return null;
  registerBatchNormTrainGradient();
  const kernels = nativeWasmKernelConfigs(loaded.addon);
  return {
    kernels,
    detail: `native kernels ${loaded.isa} (${kernels.map((k) => k.kernelName).join(', ')})`,
    threads: loaded.threads,
  };
}

/** Why `nativeWasmKernels` returned null (for the start-up line), or undefined if it loads. */
export function nativeUnavailableReason(env?: Record<string, string | undefined>): string | undefined {
  const r = loadNative({ env });
  return r.addon === null ? r.reason : undefined;
}

/**
 * The fused batch-norm pair without the addon: JS loops on wasm heap views ('wasm') and on the
 * cpu backend ('cpu'). Also registers the gradient. The caller registers the configs.
 */
export function batchNormTrainFallbackKernels(): tf.KernelConfig[] {
  registerBatchNormTrainGradient();
  return [
    jsWasmBatchNormTrainConfig(),
    jsWasmBatchNormTrainGradConfig(),
    cpuBatchNormTrainConfig(),
    cpuBatchNormTrainGradConfig(),
  ];
}

/** Unregisters any existing kernel of the same name and backend, then registers each config. */
export function registerKernelConfigs(configs: readonly tf.KernelConfig[]): void {
  for (const k of configs) {
    if (tf.getKernel(k.kernelName, k.backendName) !== undefined) tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
  }
}
