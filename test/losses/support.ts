/**
 * Shared set-up of the loss and memory tests: the cpu backend, tfjs gradients, tolerances and
 * small tensor helpers.
 *
 * tfjs-core 4 registers no gradient functions by itself (the full @tensorflow/tfjs package does);
 * the tests load them from tfjs-core's ESM build, which vitest transforms.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { expect } from 'vitest';
import fc from 'fast-check';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Runs `f` on the cpu backend and checks it leaves tf.memory().numTensors unchanged. */
export function noLeak<T>(f: () => T): T {
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return out;
}

/** Value of a scalar loss built from plain rows; every tensor is disposed. */
export function value(f: () => tf.Scalar): number {
  return tf.tidy(() => f().dataSync()[0]);
}

export const t2 = (m: number[][]) => tf.tensor2d(m, [m.length, m[0].length], 'float32');
export const t3 = (m: number[][][]) => tf.tensor3d(m, [m.length, m[0].length, m[0][0].length], 'float32');

/**
 * Tolerance of a float32 loss against a float64 reference: the logits s/tau carry a relative
 * float32 error of ~1e-7, so the absolute error scales with 1/tau and with the loss itself.
 */
export function tol(ref: number, tau: number, scale = 1): number {
  return 2e-5 * scale * (1 + Math.abs(ref) + 1 / tau);
}

export function expectClose(actual: number, expected: number, tolerance: number, what = ''): void {
  if (!(Math.abs(actual - expected) <= tolerance)) {
    throw new Error(`${what} expected ${expected}, got ${actual} (|diff| ${Math.abs(actual - expected)} > ${tolerance})`);
  }
}

/** A random orthonormal set of `rows` vectors in R^d (Gram-Schmidt on the given seeds). */
export function orthonormal(seeds: number[][]): number[][] {
  const out: number[][] = [];
  for (const s of seeds) {
    let v = s.slice();
    for (const u of out) {
      const c = v.reduce((acc, x, i) => acc + x * u[i], 0);
      v = v.map((x, i) => x - c * u[i]);
    }
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    if (n < 1e-3) return [];
    out.push(v.map((x) => x / n));
  }
  return out;
}

/**
 * Compares tf.grads of a tensor loss with central finite differences (eps 1e-5, float64) of the
 * slow reference, on every entry of every rank-2 input.
 */
export function expectGradientsMatch(
  inputs: number[][][],
  tensorLoss: (...xs: tf.Tensor2D[]) => tf.Scalar,
  refLoss: (...ms: number[][][]) => number,
  tau: number,
): void {
  const grads = tf.tidy(() => {
    const f = (...xs: tf.Tensor[]) => tensorLoss(...(xs as tf.Tensor2D[]));
    return tf.grads(f)(inputs.map(t2)).map((g) => Array.from(g.dataSync()));
  });
  inputs.forEach((m, which) => {
    const d = m[0].length;
    for (let i = 0; i < m.length; i++) {
      for (let j = 0; j < d; j++) {
        const eps = 1e-5;
        const at = (delta: number) => refLoss(...inputs.map((x, w) => (w === which ? x.map((r, ri) => r.map((v, ci) => (ri === i && ci === j ? v + delta : v))) : x)));
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        const g = grads[which][i * d + j];
        const tolerance = 5e-4 * (1 + 1 / tau) + 2e-3 * Math.abs(fd);
        if (!(Math.abs(g - fd) <= tolerance)) {
          throw new Error(`gradient of input ${which} at [${i}][${j}]: tf.grads ${g}, finite differences of the reference ${fd} (tau ${tau})`);
        }
      }
    }
  });
}

/** Rows with norm < 0.3 moved away from the origin (finite differences through a normalisation need it) (a deterministic map, so shrinking still works). */
export const liftRows = (m: number[][]): number[][] =>
  m.map((r) => (Math.sqrt(r.reduce((s, x) => s + x * x, 0)) >= 0.3 ? r : r.map((x, i) => (i === 0 ? x + (x >= 0 ? 0.5 : -0.5) : x))));

// Failure reports carry the predicate's own error message (fast-check 4 otherwise keeps it in `cause`).
fc.configureGlobal({ includeErrorInReport: true });

/** fc.assert of one named property; a failure's first line names the property. */
export function assertProperty(name: string, property: fc.IProperty<any>, numRuns: number): void {
  try {
    fc.assert(property, { numRuns });
  } catch (e) {
    throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
