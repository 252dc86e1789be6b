/**
 * pca2d against the formula: the covariance matrix is formed explicitly and diagonalised with
 * a slow Jacobi loop written here, and the projections compared (up to each component's sign).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { pca2d } from '../../src/eval/pca2d.ts';

function referencePca(x: number[][]): { points: [number, number][]; values: number[] } {
  const n = x.length;
  const d = x[0].length;
  const mean = Array.from({ length: d }, (_, j) => x.reduce((s, r) => s + r[j], 0) / n);
  const c = x.map((r) => r.map((v, j) => v - mean[j]));
  const a = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => c.reduce((s, r) => s + r[i] * r[j], 0) / (n - 1)));
  const v = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j): number => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 200; sweep++) {
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) {
        if (Math.abs(a[p][q]) < 1e-15) continue;
        const phi = 0.5 * Math.atan2(2 * a[p][q], a[q][q] - a[p][p]);
        const cs = Math.cos(phi);
        const sn = Math.sin(phi);
        for (let k = 0; k < d; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = cs * akp - sn * akq;
          a[k][q] = sn * akp + cs * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = cs * apk - sn * aqk;
          a[q][k] = sn * apk + cs * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = cs * vkp - sn * vkq;
          v[k][q] = sn * vkp + cs * vkq;
        }
      }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => a[j][j] - a[i][i]);
  const u = order.slice(0, 2).map((k) => v.map((row) => row[k]));
  return { points: c.map((r) => [0, 1].map((t) => r.reduce((s, val, j) => s + val * u[t][j], 0)) as [number, number]), values: order.map((k) => a[k][k]) };
}

function matchUpToSign(got: [number, number][], want: [number, number][], tol: number): void {
  for (const t of [0, 1]) {
    const dot = got.reduce((s, p, i) => s + p[t] * want[i][t], 0);
    const sign = dot < 0 ? -1 : 1;
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i][t] - sign * want[i][t])).toBeLessThan(tol);
  }
}

describe('pca2d', () => {
  it('matches the explicit covariance eigen-decomposition on random data with distinct variances', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 3, max: 12 }), (seed, d) => {
        let s = seed;
        const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
        const n = 40;
        const scales = Array.from({ length: d }, (_, j) => 3 / (j + 1)); // well-separated spectrum
        const rows = Array.from({ length: n }, () => scales.map((sc) => sc * rnd()));
        // mix the axes so the components are not the coordinate axes
        const mixed = rows.map((r) => r.map((_, j) => r.reduce((acc, v, k) => acc + v * Math.cos(0.3 * (j + 1) * (k + 2)), 0)));
        const ref = referencePca(mixed);
        if (ref.values[1] - ref.values[2] < 1e-3 * ref.values[0] || ref.values[0] - ref.values[1] < 1e-3 * ref.values[0]) return; // near-degenerate: components not unique
        const got = pca2d({ values: Float32Array.from(mixed.flat()), rows: n, cols: d });
        expect(got.variance[0]).toBeCloseTo(ref.values[0], 3);
        expect(got.variance[1]).toBeCloseTo(ref.values[1], 3);
        matchUpToSign(got.points, ref.points, 1e-3 * Math.sqrt(ref.values[0]) + 1e-4);
      }),
      { numRuns: 25 },
    );
  });

  it('data on a line: all variance in the first component, the second is ~0', () => {
    const rows = 30;
    const values = new Float32Array(rows * 4);
    for (let i = 0; i < rows; i++) [1, -2, 0.5, 3].forEach((w, j) => (values[i * 4 + j] = (i - 7) * w + 10));
    const r = pca2d({ values, rows, cols: 4 });
    expect(r.variance[0]).toBeCloseTo(r.totalVariance, 2);
    expect(r.variance[1]).toBeLessThan(1e-6 * r.variance[0]);
    for (const [, b] of r.points) expect(Math.abs(b)).toBeLessThan(1e-3);
    // the projection is the signed distance along the line, centred
    const norm = Math.hypot(1, -2, 0.5, 3);
    const mean = (rows - 1) / 2 - 7;
    r.points.forEach(([a], i) => expect(Math.abs(Math.abs(a) - Math.abs((i - 7 - mean) * norm))).toBeLessThan(1e-3));
  });

  it('is deterministic and rejects bad input', () => {
    const values = Float32Array.from({ length: 50 * 6 }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 6)));
    expect(pca2d({ values, rows: 50, cols: 6 }).points).toEqual(pca2d({ values, rows: 50, cols: 6 }).points);
    expect(() => pca2d({ values, rows: 49, cols: 6 })).toThrow(/rows x cols/);
    const bad = values.slice();
    bad[7] = NaN;
    expect(() => pca2d({ values: bad, rows: 50, cols: 6 })).toThrow(/non-finite value at row 1, column 1/);
    expect(pca2d({ values: new Float32Array(3), rows: 1, cols: 3 }).points).toEqual([[0, 0]]);
  });
});
