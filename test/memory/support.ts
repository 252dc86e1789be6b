/** Set-up of the memory tests: cpu backend (no gradients needed here), float helpers. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';

// Failure reports carry the predicate's own error message (fast-check 4 otherwise keeps it in `cause`).
fc.configureGlobal({ includeErrorInReport: true });

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export function rowsOf(data: ArrayLike<number>, d: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < data.length / d; i++) out.push(Array.from({ length: d }, (_, j) => data[i * d + j]));
  return out;
}

export const norm = (r: readonly number[]) => Math.sqrt(r.reduce((s, x) => s + x * x, 0));

/** The memory-bank update written from the formula: v <- (m v + (1 - m) f) / ||m v + (1 - m) f||. */
export function momentumRef(v: readonly number[], f: readonly number[], m: number): number[] {
  const w = v.map((x, i) => m * x + (1 - m) * f[i]);
  const n = norm(w);
  return n > 1e-12 ? w.map((x) => x / n) : v.slice();
}
