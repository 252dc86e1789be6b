/**
 * Shared set-up of the native-kernel tests: loads the addon, registers its kernels on the wasm
 * backend (over the stock ones, as registerWasmTrainingKernels will), and compares results with
 * the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { loadNative } from '../../src/backend/native/loadNative.ts';
import { nativeWasmKernels, registerKernelConfigs } from '../../src/backend/native/nativeWasmKernels.ts';

export const native = loadNative({ threads: 2 });
/** Reason shown when the suite is skipped (addon not built). */
export const skipReason = native.addon === null ? native.reason : undefined;

/** The stock wasm kernels, captured before ours replace them. */
export const stockWasm = new Map<string, tf.KernelConfig | undefined>(
  ['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul', 'Identity'].map(
    (n) => [n, tf.getKernel(n, 'wasm')],
  ),
);

let ready: Promise<void> | undefined;
/** Registers the native kernels (once) and initialises both backends. */
export function setUpNative(): Promise<void> {
  ready ??= (async () => {
    const k = nativeWasmKernels({ threads: 2 });
    if (k === null) throw new Error('native addon unavailable');
    registerKernelConfigs(k.kernels);
    await tf.setBackend('wasm');
    await tf.setBackend('cpu');
  })();
  return ready;
}

/** Deterministic values in [-1, 1) from a seed (xorshift32). */
export function randomValues(n: number, seed: number): Float32Array {
  let s = (seed | 0) ^ 0x9e3779b9 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Runs `f` on a backend and returns its outputs as arrays. Also checks that `f` leaves no tensor
 * behind on that backend.
 */
export async function runOn(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outs = tf.tidy(f);
  const arrays = outs.map((t) => t.dataSync().slice() as Float32Array);
  tf.dispose(outs);
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${backend}: ${after - before} tensors leaked`);
  return arrays;
}

/**
 * ||a - b|| / max(||b||, 1e-3 * sqrt(len)): relative, with an absolute floor of 1e-3 RMS so that
 * an output that is analytically ~0 (e.g. batch-norm dx over a reduction of 2 values, where
 * x_hat = +-1 cancels dy exactly) is judged by its rounding noise, not by 0/0.
 */
export function relError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let e = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    if (!Number.isFinite(a[i])) return Infinity;
    e += d * d;
    n += b[i] * b[i];
  }
  return Math.sqrt(e) / Math.max(Math.sqrt(n), 1e-3 * Math.sqrt(a.length));
}

export const TOLERANCE = 1e-4;

/** Asserts every output of `actual` matches `expected` to TOLERANCE, naming the failing one. */
export function expectAllClose(actual: Float32Array[], expected: Float32Array[], names: string[], context: string): void {
  if (actual.length !== expected.length) throw new Error(`${context}: ${actual.length} outputs, expected ${expected.length}`);
  actual.forEach((a, i) => {
    const err = relError(a, expected[i]);
    if (!(err <= TOLERANCE)) {
      throw new Error(`${context}: ${names[i] ?? `output ${i}`} relative error ${err.toExponential(3)} > ${TOLERANCE}`);
    }
  });
}
