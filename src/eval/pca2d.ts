/**
 * pca2d: the 2-D principal-component projection of a feature matrix, for the run report's
 * embedding scatter.
 *
 *   x̄ = mean of the rows,  C = (X − x̄)ᵀ(X − x̄) / (n − 1)                  X: [n, d]
 *   u1, u2 = the eigenvectors of C with the two largest eigenvalues λ1 ≥ λ2
 *   point_i = ((x_i − x̄)·u1, (x_i − x̄)·u2)
 *
 * Computed without forming C: subspace (block power) iteration with `block` vectors,
 * Q ← orth(Xᵀ(X Q)), then a Rayleigh-Ritz step (Jacobi on the block × block matrix QᵀCQ)
 * orders and rotates the vectors. Deterministic: fixed start vectors, and each component's
 * sign is chosen so that its largest-magnitude coordinate is positive. Float64 throughout.
 *
 * Defaults: block 6 (converges at the rate λ7/λ2), maxIterations 300, tolerance 1e-10.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

export interface Pca2dConfig {
  /** Vectors iterated together (≥ 2; more converge faster). Default 6. */
  block?: number;
  /** Default 300. */
  maxIterations?: number;
  /** Stop when the Ritz values change by less than this (relative). Default 1e-10. */
  tolerance?: number;
}

export const DEFAULT_PCA2D_CONFIG = { block: 6, maxIterations: 300, tolerance: 1e-10 } as const;

export interface Pca2dResult {
  /** [n] points (x_i − x̄)·u1, (x_i − x̄)·u2. */
  points: [number, number][];
  /** λ1, λ2: variance along each component. */
  variance: [number, number];
  /** trace(C): the total variance (variance / totalVariance = explained fraction). */
  totalVariance: number;
  /** u1, u2 as [2][d]. */
  components: [Float64Array, Float64Array];
}

/** A matrix as row-major values: `{ values, rows, cols }`. */
export interface MatrixData {
  values: ArrayLike<number>;
  rows: number;
  cols: number;
}

/**
 * Eigen-decomposition of a small symmetric matrix (cyclic Jacobi). `a` is k×k row-major and
 * is overwritten. Returns eigenvalues (descending) and eigenvectors as columns of `v` (k×k).
 */
export function symmetricEigen(a: Float64Array, k: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < k; p++) for (let q = p + 1; q < k; q++) off += a[p * k + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < k; p++) {
      for (let q = p + 1; q < k; q++) {
        const apq = a[p * k + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < k; r++) {
          const arp = a[r * k + p];
          const arq = a[r * k + q];
          a[r * k + p] = c * arp - s * arq;
          a[r * k + q] = s * arp + c * arq;
        }
        for (let r = 0; r < k; r++) {
          const apr = a[p * k + r];
          const aqr = a[q * k + r];
          a[p * k + r] = c * apr - s * aqr;
          a[q * k + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < k; r++) {
          const vrp = v[r * k + p];
          const vrq = v[r * k + q];
          v[r * k + p] = c * vrp - s * vrq;
          v[r * k + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const order = Array.from({ length: k }, (_, i) => i).sort((i, j) => a[j * k + j] - a[i * k + i]);
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  order.forEach((src, dst) => {
    values[dst] = a[src * k + src];
    for (let r = 0; r < k; r++) vectors[r * k + dst] = v[r * k + src];
  });
  return { values, vectors };
}

/**
 * Gram-Schmidt with re-orthogonalisation on the m <= d columns of q (d×m, column-major: column
 * j at j*d). A column that (numerically) lies in the span of the previous ones is replaced by
 * the next unit vector e_k that does not, so the result is always orthonormal.
 */
function orthonormalize(q: Float64Array, d: number, m: number): void {
  let fresh = 0;
  for (let j = 0; j < m; j++) {
    const cj = j * d;
    for (;;) {
      let before = 0;
      for (let r = 0; r < d; r++) before += q[cj + r] ** 2;
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          const ci = i * d;
          let dot = 0;
          for (let r = 0; r < d; r++) dot += q[ci + r] * q[cj + r];
          for (let r = 0; r < d; r++) q[cj + r] -= dot * q[ci + r];
        }
      }
      let after = 0;
      for (let r = 0; r < d; r++) after += q[cj + r] ** 2;
      if (after > 0 && after > 1e-20 * before) {
        const inv = 1 / Math.sqrt(after);
        for (let r = 0; r < d; r++) q[cj + r] *= inv;
        break;
      }
      // Degenerate (rank-deficient data): try the next unit vector; one of e_0..e_{d-1} is independent.
      for (let r = 0; r < d; r++) q[cj + r] = r === fresh % d ? 1 : 0;
      fresh++;
    }
  }
}

export function pca2d(features: tf.Tensor2D | MatrixData, config: Pca2dConfig = {}): Pca2dResult {
  const fn = 'pca2d';
  let values: ArrayLike<number>;
  let n: number;
  let d: number;
  if (features instanceof tf.Tensor) {
    if (features.rank !== 2) throw new ArgumentError(fn, 'features', `must be a [n, d] matrix, got shape [${features.shape}]`);
    [n, d] = features.shape;
    values = features.dataSync();
  } else {
    if (features === null || typeof features !== 'object') throw new ArgumentError(fn, 'features', 'must be a tf.Tensor2D or { values, rows, cols }');
    ({ values, rows: n, cols: d } = features);
    if (!(Number.isInteger(n) && n >= 0 && Number.isInteger(d) && d >= 1) || values?.length !== n * d) {
      throw new ArgumentError(fn, 'features', `must hold rows x cols = ${n} x ${d} values, got ${values?.length}`);
    }
  }
  if (d < 1) throw new ArgumentError(fn, 'features', 'must have at least one column');
  const block = Math.min(d, Math.max(2, config.block ?? DEFAULT_PCA2D_CONFIG.block)); // 1 only when d = 1
  const maxIterations = config.maxIterations ?? DEFAULT_PCA2D_CONFIG.maxIterations;
  const tolerance = config.tolerance ?? DEFAULT_PCA2D_CONFIG.tolerance;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) throw new ArgumentError(fn, 'config.maxIterations', `must be a positive integer, got ${maxIterations}`);

  for (let i = 0; i < n * d; i++) {
    if (!Number.isFinite(values[i])) throw new ArgumentError(fn, 'features', `has a non-finite value at row ${Math.floor(i / d)}, column ${i % d}`);
  }
  // Centre (float64).
  const x = new Float64Array(n * d);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += values[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= Math.max(n, 1);
  let total = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const c = values[i * d + j] - mean[j];
      x[i * d + j] = c;
      total += c * c;
    }
  const denom = Math.max(n - 1, 1);
  total /= denom;

  const components: [Float64Array, Float64Array] = [new Float64Array(d), new Float64Array(d)];
  const variance: [number, number] = [0, 0];
  if (n >= 2 && total > 0) {
    // C·Q for Q d×m (column-major) -> d×m, via Xᵀ(XQ).
    const m = block;
    const applyC = (q: Float64Array): Float64Array => {
      const xq = new Float64Array(n * m); // [n, m]
      for (let i = 0; i < n; i++) {
        const row = i * d;
        for (let c = 0; c < m; c++) {
          let s = 0;
          const col = c * d;
          for (let j = 0; j < d; j++) s += x[row + j] * q[col + j];
          xq[i * m + c] = s;
        }
      }
      const out = new Float64Array(d * m);
      for (let i = 0; i < n; i++) {
        const row = i * d;
        for (let c = 0; c < m; c++) {
          const s = xq[i * m + c] / denom;
          if (s === 0) continue;
          const col = c * d;
          for (let j = 0; j < d; j++) out[col + j] += s * x[row + j];
        }
      }
      return out;
    };
    let q = new Float64Array(d * m);
    for (let c = 0; c < m; c++) for (let j = 0; j < d; j++) q[c * d + j] = Math.cos(1 + 0.7 * (c + 1) * (j + 1)) + (j === c ? 1 : 0);
    orthonormalize(q, d, m);
    let ritz: Float64Array = new Float64Array(m);
    let vectors: Float64Array = new Float64Array(m * m);
    for (let it = 0; it < maxIterations; it++) {
      const cq = applyC(q);
      // Rayleigh-Ritz: T = Qᵀ C Q (m×m), rotate Q by T's eigenvectors.
      const t = new Float64Array(m * m);
      for (let a = 0; a < m; a++)
        for (let b = 0; b < m; b++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += q[a * d + j] * cq[b * d + j];
          t[a * m + b] = s;
        }
      for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++) t[a * m + b] = t[b * m + a] = (t[a * m + b] + t[b * m + a]) / 2;
      const eig = symmetricEigen(t, m);
      const prev = ritz;
      ritz = eig.values;
      vectors = eig.vectors;
      const change = Math.max(Math.abs(ritz[0] - prev[0]), m > 1 ? Math.abs(ritz[1] - prev[1]) : 0) / Math.max(ritz[0], 1e-300);
      if (it > 0 && change < tolerance) break;
      // Next block: C Q rotated, orthonormalised.
      const next = new Float64Array(d * m);
      for (let c = 0; c < m; c++) for (let b = 0; b < m; b++) {
        const w = vectors[b * m + c];
        if (w === 0) continue;
        for (let j = 0; j < d; j++) next[c * d + j] += w * cq[b * d + j];
      }
      orthonormalize(next, d, m);
      q = next;
    }
    for (let c = 0; c < Math.min(2, m); c++) {
      const u = components[c];
      for (let b = 0; b < m; b++) {
        const w = vectors[b * m + c];
        for (let j = 0; j < d; j++) u[j] += w * q[b * d + j];
      }
      let norm = 0;
      let big = 0;
      for (let j = 0; j < d; j++) {
        norm += u[j] * u[j];
        if (Math.abs(u[j]) > Math.abs(big)) big = u[j];
      }
      const scale = (big < 0 ? -1 : 1) / Math.sqrt(norm);
      for (let j = 0; j < d; j++) u[j] *= scale;
      variance[c] = Math.max(0, ritz[c]);
    }
  }
  const points: [number, number][] = new Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < d; j++) {
      a += x[i * d + j] * components[0][j];
      b += x[i * d + j] * components[1][j];
    }
    points[i] = [a, b];
  }
  return { points, variance, totalVariance: total, components };
}
