/**
 * Slow references written directly from each paper's formula: plain JS numbers (float64), loops,
 * probabilities formed explicitly (no log-sum-exp tricks), so they share no code or trick with the
 * tensor implementations they check. Inputs are small and bounded (|logits| <= ~100), where the
 * direct formulas are exact enough in float64.
 */
export type Mat = number[][];

export const dot = (u: readonly number[], v: readonly number[]) => u.reduce((s, x, i) => s + x * v[i], 0);
export const l2 = (u: readonly number[]) => Math.sqrt(dot(u, u));
export function unit(u: readonly number[]): number[] {
  const n = Math.max(l2(u), 1e-12);
  return u.map((x) => x / n);
}
const maybeUnit = (m: Mat, normalize: boolean) => (normalize ? m.map(unit) : m.map((r) => r.slice()));

/** SimCLR Eq. 1: l(i,j) = -log exp(sim(z_i,z_j)/tau) / sum_{k != i} exp(sim(z_i,z_k)/tau), mean over 2N anchors. */
export function ntXentRef(z1: Mat, z2: Mat, tau: number, normalize = true): number {
  const n = z1.length;
  const z = maybeUnit([...z1, ...z2], normalize);
  let total = 0;
  for (let a = 0; a < 2 * n; a++) {
    const p = (a + n) % (2 * n);
    let denom = 0;
    for (let k = 0; k < 2 * n; k++) if (k !== a) denom += Math.exp(dot(z[a], z[k]) / tau);
    total += -Math.log(Math.exp(dot(z[a], z[p]) / tau) / denom);
  }
  return total / (2 * n);
}

/** MoCo Eq. 1 with a shared queue [K][D] or per-query negatives [N][K][D]. */
export function infoNceRef(q: Mat, kPos: Mat, negatives: Mat | Mat[], tau: number, normalize = true): number {
  const qs = maybeUnit(q, normalize);
  const ks = maybeUnit(kPos, normalize);
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    const negs = maybeUnit(Array.isArray(negatives[0][0]) ? (negatives as Mat[])[i] : (negatives as Mat), normalize);
    const pos = Math.exp(dot(qs[i], ks[i]) / tau);
    let denom = pos;
    for (const k of negs) denom += Math.exp(dot(qs[i], k) / tau);
    total += -Math.log(pos / denom);
  }
  return total / q.length;
}

/** Cross-entropy of explicit logits, positive column per row. */
export function crossEntropyRef(logits: Mat, positive: number[]): number {
  let total = 0;
  logits.forEach((row, i) => {
    const denom = row.reduce((s, x) => s + Math.exp(x), 0);
    total += -Math.log(Math.exp(row[positive[i]]) / denom);
  });
  return total / logits.length;
}

/**
 * Ye et al. 2019, symmetric batch form: for each anchor a of the 2B embeddings,
 * P(k|a) = exp(s_ak/tau) / sum_{j != a} exp(s_aj/tau); loss -log P(p(a)|a) - sum_{negatives k} log(1 - P(k|a)),
 * with 1 - P(k|a) written as the probability of all the other candidates, sum_{j not in {a,k}} P(j|a).
 */
export function invaSpreadRef(z1: Mat, z2: Mat, tau: number, normalize = true): number {
  const b = z1.length;
  const m = 2 * b;
  const z = maybeUnit([...z1, ...z2], normalize);
  let total = 0;
  for (let a = 0; a < m; a++) {
    const e = z.map((zk, k) => (k === a ? 0 : Math.exp(dot(z[a], zk) / tau)));
    const denom = e.reduce((s, x) => s + x, 0);
    const p = (a + b) % m;
    let la = Math.log(e[p] / denom);
    for (let k = 0; k < m; k++) {
      if (k === a || k === p) continue;
      let others = 0;
      for (let j = 0; j < m; j++) if (j !== a && j !== k) others += e[j];
      la += Math.log(others / denom); // log(1 - P(k|a))
    }
    total += -la;
  }
  return total / m;
}

/**
 * Wu et al. 2018: P(i|v) = exp(v.f_i/tau)/Z, h = P/(P + K/n),
 * loss = -1/B sum_i [ log h(pos) + sum_k log(1 - h(neg_k)) ], 1 - h = (K/n)/(P + K/n).
 */
export function nceRef(v: Mat, pos: Mat, negatives: Mat | Mat[], tau: number, z: number, n: number, normalize = true): number {
  const vs = maybeUnit(v, normalize);
  const ps = maybeUnit(pos, normalize);
  const perRow = Array.isArray(negatives[0][0]);
  const k = perRow ? (negatives as Mat[])[0].length : (negatives as Mat).length;
  const noise = k / n;
  let total = 0;
  for (let i = 0; i < v.length; i++) {
    const negs = maybeUnit(perRow ? (negatives as Mat[])[i] : (negatives as Mat), normalize);
    const pPos = Math.exp(dot(vs[i], ps[i]) / tau) / z;
    let li = Math.log(pPos / (pPos + noise));
    for (const f of negs) {
      const pn = Math.exp(dot(vs[i], f) / tau) / z;
      li += Math.log(noise / (pn + noise)); // 1 - h = K P_n / (P + K P_n), the noise posterior
    }
    total += -li;
  }
  return total / v.length;
}

/** Wu et al.'s one-off estimate Z = n * mean over all B(K+1) pairs of exp(v.f/tau). */
export function nceNormalizerRef(v: Mat, pos: Mat, negatives: Mat | Mat[], tau: number, n: number, normalize = true): number {
  const vs = maybeUnit(v, normalize);
  const ps = maybeUnit(pos, normalize);
  const perRow = Array.isArray(negatives[0][0]);
  let sum = 0;
  let count = 0;
  for (let i = 0; i < v.length; i++) {
    const negs = maybeUnit(perRow ? (negatives as Mat[])[i] : (negatives as Mat), normalize);
    sum += Math.exp(dot(vs[i], ps[i]) / tau);
    count++;
    for (const f of negs) {
      sum += Math.exp(dot(vs[i], f) / tau);
      count++;
    }
  }
  return (n * sum) / count;
}

/** CPC Eq. 4 per offset k: -log f(z_r, zhat_r) / sum_{r'} f(z_r', zhat_r), f = exp(zhat.z/tau); mean over offsets. */
export function cpcRef(preds: Mat[], targets: Mat[], tau: number, normalize = false): number {
  let total = 0;
  preds.forEach((pk, k) => {
    const p = maybeUnit(pk, normalize);
    const t = maybeUnit(targets[k], normalize);
    let lk = 0;
    for (let r = 0; r < p.length; r++) {
      let denom = 0;
      for (let r2 = 0; r2 < t.length; r2++) denom += Math.exp(dot(p[r], t[r2]) / tau);
      lk += -Math.log(Math.exp(dot(p[r], t[r]) / tau) / denom);
    }
    total += lk / p.length;
  });
  return total / preds.length;
}

export interface CmcRefOptions {
  form: 'nce' | 'softmax';
  tau: number;
  paradigm?: 'full' | 'core';
  core?: number;
  z?: number[][];
  n?: number;
}

/**
 * Tian et al. 2019: sum over ordered view pairs (i, j), i != j (full graph; core view: pairs
 * touching `core`) of the directed loss of anchors from view i against view j's bank.
 * memory undefined: in-batch softmax (positives and negatives are view j's features).
 */
export function cmcRef(features: Mat[], memory: { positives: Mat[]; negatives: (Mat | Mat[])[] } | undefined, o: CmcRefOptions): number {
  const m = features.length;
  let total = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i === j) continue;
      if (o.paradigm === 'core' && i !== (o.core ?? 0) && j !== (o.core ?? 0)) continue;
      if (!memory) {
        const b = features[i].length;
        const logits = unitRows(features[i]).map((a) => unitRows(features[j]).map((f) => dot(a, f) / o.tau));
        total += crossEntropyRef(logits, Array.from({ length: b }, (_, r) => r));
      } else if (o.form === 'softmax') {
        total += infoNceRef(features[i], memory.positives[j], memory.negatives[j], o.tau);
      } else {
        total += nceRef(features[i], memory.positives[j], memory.negatives[j], o.tau, (o.z as number[][])[i][j], o.n as number);
      }
    }
  }
  return total;
}
const unitRows = (m: Mat) => m.map(unit);

/** Wu et al. 2018 Sec. 3.4: lambda * mean_i ||v_i^t - v_i^{t-1}||^2. */
export function proximalRef(vNew: Mat, vOld: Mat, lambda: number): number {
  let total = 0;
  vNew.forEach((row, i) => row.forEach((x, d) => (total += (x - vOld[i][d]) ** 2)));
  return (lambda * total) / vNew.length;
}

/** Central finite difference of a float64 function of a matrix, at entry (i, j). */
export function finiteDifference(f: (m: Mat) => number, m: Mat, i: number, j: number, eps = 1e-5): number {
  const plus = m.map((r) => r.slice());
  const minus = m.map((r) => r.slice());
  plus[i][j] += eps;
  minus[i][j] -= eps;
  return (f(plus) - f(minus)) / (2 * eps);
}
