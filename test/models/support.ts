/** Shared set-up of the model, optimizer and training tests: cpu backend, gradients, helpers. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'vitest';
import { registerGradients } from '../../src/train/registerGradients.ts';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The cpu backend plus tfjs gradient functions (loading them costs a few seconds per file). */
export async function useCpuWithGradients(): Promise<void> {
  await registerGradients();
  await useCpu();
}

/** Deterministic pseudo-random numbers in [-1, 1) (LCG), independent of the code under test. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, () => r() * scale);
}

/** Reads a tensor as a plain array (copy). */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  expect(worst, `${what} worst relative error at index ${at}: got ${actual[at]}, expected ${expected[at]}`).toBeLessThanOrEqual(tol);
}

/** Runs `f` and checks it leaves tf.memory().numTensors unchanged. */
export function noLeak<T>(f: () => T): T {
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return out;
}

/** Runs `f` and checks that the tensor it returns is the only tensor left behind. */
export function onlyResult<T extends tf.Tensor>(f: () => T): T {
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before + 1);
  return out;
}
