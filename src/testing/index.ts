/**
 * contrastream/testing: fast-check arbitraries for embedding batches and invariant checks that
 * property-test a contrastive loss, yours or ours, in a few lines.
 *
 * A loss is checked through the contract `(anchors [N, D], positives [N, D], temperature) =>
 * tf.Scalar`, where row i of `positives` is the positive of row i of `anchors` and every other
 * row is a negative (in-batch). Losses with extra inputs are adapted with a closure, e.g. a fixed
 * queue of negatives for InfoNCE.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-cpu';
 * import '@tensorflow/tfjs-core/dist/register_all_gradients'; // under vitest; in Node: await registerGradients()
 * import { checkLossInvariants } from 'contrastream/testing';
 * import { ntXentLoss } from 'contrastream';
 *
 * await tf.setBackend('cpu');
 * // Throws a LossInvariantError listing every failed property with its shrunk counterexample.
 * checkLossInvariants((a, p, t) => ntXentLoss(a, p, { temperature: t }), {
 *   nonNegative: true,            // opt-in: -log of a probability is >= 0
 *   vanishesWhenSeparated: true,  // opt-in: -> 0 as tau -> 0 on a perfectly separated batch
 * });
 *
 * // Or compose the arbitraries yourself:
 * import fc from 'fast-check';
 * import { embeddingPair, temperature, toTensor2d } from 'contrastream/testing';
 * fc.assert(fc.property(embeddingPair({ rows: { min: 2, max: 6 }, dim: 8 }), temperature(), ([a, p], t) =>
 *   tf.tidy(() => Number.isFinite(myLoss(toTensor2d(a), toTensor2d(p), t).dataSync()[0]))));
 * ```
 *
 * The checks (each can be skipped with `skip: [...]`):
 * - `finite`: loss and its gradient are finite on random, collapsed, aligned and opposite
 *   batches, at the drawn temperature and at the smallest one (default 0.01).
 * - `nonNegative` (opt-in): loss >= 0.
 * - `permutationInvariant`: permuting the batch (anchors and positives alike) leaves the loss
 *   unchanged.
 * - `monotonicInPositive`: raising the similarity of one anchor with its positive, all other
 *   similarities fixed, never raises the loss, and from -1 to 1 lowers it.
 * - `temperatureMonotone`: on a separated batch (anchor i = positive i = coordinate axis e_i,
 *   so each positive beats every negative by a margin of 1), the loss does not decrease as the
 *   temperature rises and is strictly lower at the smallest temperature than at the largest.
 *   (Catches a temperature that is ignored.)
 * - `vanishesWhenSeparated` (opt-in): on that batch, at the smallest temperature, loss ~ 0.
 *   (Holds for softmax losses; catches the self-similarity left in the denominator.)
 * - `gradient`: tf.grads agrees with central finite differences (float32, eps 2e-3) at
 *   temperatures in [0.2, 1] on a few random coordinates.
 * - `noTensorLeak`: a call leaves tf.memory().numTensors unchanged once its result is disposed.
 *
 * Where the construction matters for closures over extra negatives: the monotonicity batch keeps
 * the varied anchor/positive pair in the last two coordinates (d-2, d-1) and everything else in
 * the first d-2; the separated batch uses the first `rows.max` axes. Negatives of your own placed
 * in coordinates >= rows.max and < d-2 keep both properties valid.
 */
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, LossInvariantError } from '../errors.ts';

/** A batch of embeddings as plain rows, [N][D]. */
export type Embeddings = number[][];

/** The loss contract of the invariant checks: anchors [N, D], positives [N, D], temperature. */
export type PairLoss = (anchors: tf.Tensor2D, positives: tf.Tensor2D, temperature: number) => tf.Scalar;

export interface IntRange {
  min: number;
  max: number;
}

export interface EmbeddingBatchConstraints {
  /** Rows N: a number or a range. Default { min: 2, max: 6 }. */
  rows?: number | IntRange;
  /** Columns D: a number or a range. Default 8. */
  dim?: number | IntRange;
  /** Entries are drawn in [-scale, scale]. Default 1. */
  scale?: number;
}

export const DEFAULT_EMBEDDING_BATCH_CONSTRAINTS = { rows: { min: 2, max: 6 }, dim: 8, scale: 1 } as const;

function range(fn: string, arg: string, v: number | IntRange, min: number): IntRange {
  const r = typeof v === 'number' ? { min: v, max: v } : v;
  if (r === null || typeof r !== 'object' || !Number.isInteger(r.min) || !Number.isInteger(r.max) || r.min < min || r.max < r.min) {
    throw new ArgumentError(fn, arg, `must be an integer >= ${min} or a range { min, max } with ${min} <= min <= max, got ${JSON.stringify(v)}`);
  }
  return r;
}

function rowArb(d: number, scale: number): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: -scale, max: scale, noNaN: true, noDefaultInfinity: true }), { minLength: d, maxLength: d });
}

/** Unit-normalises a row; a (near-)zero row becomes the first axis, so the result is always unit. */
export function normalizeRow(v: readonly number[]): number[] {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (!(n > 1e-6)) return v.map((_, i) => (i === 0 ? 1 : 0));
  return v.map((x) => x / n);
}

/** Random batches [N][D] with entries in [-scale, scale]. */
export function embeddingBatch(constraints: EmbeddingBatchConstraints = {}): fc.Arbitrary<Embeddings> {
  const fn = 'embeddingBatch';
  const rows = range(fn, 'rows', constraints.rows ?? DEFAULT_EMBEDDING_BATCH_CONSTRAINTS.rows, 1);
  const dim = range(fn, 'dim', constraints.dim ?? DEFAULT_EMBEDDING_BATCH_CONSTRAINTS.dim, 1);
  const scale = constraints.scale ?? DEFAULT_EMBEDDING_BATCH_CONSTRAINTS.scale;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new ArgumentError(fn, 'scale', `must be a finite number > 0, got ${scale}`);
  return fc
    .integer(dim)
    .chain((d) => fc.array(rowArb(d, scale), { minLength: rows.min, maxLength: rows.max }));
}

/** Random batches [N][D] whose rows have unit L2 norm. */
export function unitEmbeddingBatch(constraints: Omit<EmbeddingBatchConstraints, 'scale'> = {}): fc.Arbitrary<Embeddings> {
  return embeddingBatch({ ...constraints, scale: 1 }).map((rows) => rows.map(normalizeRow));
}

/**
 * Two views [anchors, positives] of the same N unit rows. Most draws are independent random rows;
 * the rest are the cases that saturate a softmax: positives = anchors, positives = -anchors, all
 * rows equal (collapse), positives = anchors plus small noise.
 */
export function embeddingPair(constraints: Omit<EmbeddingBatchConstraints, 'scale'> = {}): fc.Arbitrary<[Embeddings, Embeddings]> {
  const fn = 'embeddingPair';
  const rows = range(fn, 'rows', constraints.rows ?? DEFAULT_EMBEDDING_BATCH_CONSTRAINTS.rows, 1);
  const dim = range(fn, 'dim', constraints.dim ?? DEFAULT_EMBEDDING_BATCH_CONSTRAINTS.dim, 1);
  return fc.integer(rows).chain((n) =>
    fc.integer(dim).chain((d) => {
      const batch = fc.array(rowArb(d, 1), { minLength: n, maxLength: n }).map((b) => b.map(normalizeRow));
      const one = rowArb(d, 1).map(normalizeRow);
      return fc.oneof(
        { weight: 5, arbitrary: fc.tuple(batch, batch) },
        { weight: 1, arbitrary: batch.map((a) => [a, a.map((r) => r.slice())] as [Embeddings, Embeddings]) },
        { weight: 1, arbitrary: batch.map((a) => [a, a.map((r) => r.map((x) => -x))] as [Embeddings, Embeddings]) },
        { weight: 1, arbitrary: one.map((r) => [Array.from({ length: n }, () => r.slice()), Array.from({ length: n }, () => r.slice())] as [Embeddings, Embeddings]) },
        {
          weight: 1,
          arbitrary: fc.tuple(batch, batch).map(([a, noise]) => [a, a.map((r, i) => normalizeRow(r.map((x, j) => x + 0.05 * noise[i][j])))] as [Embeddings, Embeddings]),
        },
      );
    }),
  );
}

/**
 * Temperatures in [min, max] (default [0.01, 1]), biased towards the bounds and the usual values
 * 0.07, 0.1, 0.2, 0.5, so 0.01 is drawn often.
 */
export function temperature(bounds: { min?: number; max?: number } = {}): fc.Arbitrary<number> {
  const min = bounds.min ?? 0.01;
  const max = bounds.max ?? 1;
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) throw new ArgumentError('temperature', 'bounds', `must satisfy 0 < min <= max < inf, got ${JSON.stringify(bounds)}`);
  const special = [min, 0.07, 0.1, 0.2, 0.5, max].filter((t) => t >= min && t <= max);
  return fc.oneof(fc.constantFrom(...special), fc.double({ min, max, noNaN: true }));
}

/** Permutations of 0..n-1. */
export function permutation(n: number): fc.Arbitrary<number[]> {
  if (!Number.isInteger(n) || n < 0) throw new ArgumentError('permutation', 'n', `must be an integer >= 0, got ${n}`);
  const ids = Array.from({ length: n }, (_, i) => i);
  return fc.shuffledSubarray(ids, { minLength: n, maxLength: n });
}

/** Rows in a new order: out[i] = rows[perm[i]]. */
export function permuteRows<T>(rows: readonly T[], perm: readonly number[]): T[] {
  return perm.map((p) => rows[p]);
}

/** A [N, D] float32 tensor of the rows (inside tf.tidy or dispose it yourself). */
export function toTensor2d(rows: Embeddings): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0]?.length ?? 0], 'float32');
}

// ---- invariant checks -------------------------------------------------------------------------

export type InvariantName =
  | 'finite'
  | 'nonNegative'
  | 'permutationInvariant'
  | 'monotonicInPositive'
  | 'temperatureMonotone'
  | 'vanishesWhenSeparated'
  | 'gradient'
  | 'noTensorLeak';

export interface LossInvariantOptions {
  /** Batch sizes N. Default { min: 2, max: 5 }. In-batch losses need N >= 2 (one row has no negatives). */
  rows?: number | IntRange;
  /** Dimension D of the generated embeddings. Default 8; at least 3 and at least rows.max. */
  dim?: number;
  /** Temperatures drawn. Default { min: 0.01, max: 1 }. */
  temperature?: { min: number; max: number };
  /** Temperatures of the gradient check (finite differences need smooth losses). Default { min: 0.2, max: 1 }. */
  gradientTemperature?: { min: number; max: number };
  /** Check loss >= 0. Default false. */
  nonNegative?: boolean;
  /** Check loss ~ 0 on a separated batch at the smallest temperature. Default false. */
  vanishesWhenSeparated?: boolean;
  /** Checks not to run. */
  skip?: InvariantName[];
  /** Runs per property. Default 25. */
  numRuns?: number;
  /** fast-check seed, for reproducible runs. */
  seed?: number;
  /** Relative tolerance of value comparisons, scaled by (1 + |loss| + 1/tau). Default 1e-4. */
  tolerance?: number;
  /** Gradient check: |g - fd| <= atol + rtol max(|g|, |fd|). Default { rtol: 2e-2, atol: 2e-3 }. */
  gradientTolerance?: { rtol: number; atol: number };
  /** Throw a LossInvariantError when a property fails. Default true. */
  throwOnFailure?: boolean;
}

export const DEFAULT_LOSS_INVARIANT_OPTIONS = {
  rows: { min: 2, max: 5 },
  dim: 8,
  temperature: { min: 0.01, max: 1 },
  gradientTemperature: { min: 0.2, max: 1 },
  nonNegative: false,
  vanishesWhenSeparated: false,
  numRuns: 25,
  tolerance: 1e-4,
  gradientTolerance: { rtol: 2e-2, atol: 2e-3 },
  throwOnFailure: true,
} as const;

export interface LossInvariantReport {
  passed: InvariantName[];
  skipped: InvariantName[];
  failed: Array<{ property: InvariantName; message: string }>;
}

class Violation extends Error {}

function evalLoss(loss: PairLoss, a: Embeddings, p: Embeddings, t: number): number {
  return tf.tidy(() => {
    const out = loss(toTensor2d(a), toTensor2d(p), t);
    if (!(out instanceof tf.Tensor) || out.size !== 1) throw new Violation(`the loss must return a scalar tensor, got ${out instanceof tf.Tensor ? `shape [${out.shape}]` : typeof out}`);
    return out.dataSync()[0];
  });
}

function gradients(loss: PairLoss, a: Embeddings, p: Embeddings, t: number): { value: number; ga: Float32Array; gp: Float32Array } {
  try {
    return tf.tidy(() => {
      const f = (x: tf.Tensor, y: tf.Tensor) => loss(x as tf.Tensor2D, y as tf.Tensor2D, t);
      const { value, grads } = tf.valueAndGrads(f)([toTensor2d(a), toTensor2d(p)]);
      return { value: value.dataSync()[0], ga: grads[0].dataSync() as Float32Array, gp: grads[1].dataSync() as Float32Array };
    });
  } catch (e) {
    if (e instanceof Error && /gradient function not found/.test(e.message)) {
      throw new Violation(
        `${e.message}. tfjs-core registers no gradient functions by itself: call contrastream's registerGradients() first ` +
          `(or, under vitest or a bundler, import '@tensorflow/tfjs-core/dist/register_all_gradients')`,
      );
    }
    throw e;
  }
}

function axis(d: number, i: number, s = 1): number[] {
  return Array.from({ length: d }, (_, j) => (j === i ? s : 0));
}

/**
 * The properties behind `checkLossInvariants`, for use with fc.assert / fc.check directly.
 * Each predicate throws (or returns false) on a violation.
 */
export function lossInvariantProperties(loss: PairLoss, options: LossInvariantOptions = {}): Record<InvariantName, fc.IProperty<any>> {
  const fn = 'lossInvariantProperties';
  if (typeof loss !== 'function') throw new ArgumentError(fn, 'loss', 'must be a function (anchors, positives, temperature) => tf.Scalar');
  const rows = range(fn, 'options.rows', options.rows ?? DEFAULT_LOSS_INVARIANT_OPTIONS.rows, 1);
  const d = options.dim ?? DEFAULT_LOSS_INVARIANT_OPTIONS.dim;
  if (!Number.isInteger(d) || d < 3 || d < rows.max) throw new ArgumentError(fn, 'options.dim', `must be an integer >= 3 and >= rows.max (${rows.max}), got ${d}`);
  const tRange = options.temperature ?? DEFAULT_LOSS_INVARIANT_OPTIONS.temperature;
  const gRange = options.gradientTemperature ?? DEFAULT_LOSS_INVARIANT_OPTIONS.gradientTemperature;
  const rtol = options.tolerance ?? DEFAULT_LOSS_INVARIANT_OPTIONS.tolerance;
  const gtol = options.gradientTolerance ?? DEFAULT_LOSS_INVARIANT_OPTIONS.gradientTolerance;
  const tMin = tRange.min;
  const tol = (l: number, t: number) => rtol * (1 + Math.abs(l) + 1 / t);
  const pairs = embeddingPair({ rows, dim: d });
  const temps = temperature(tRange);

  const finite = fc.property(pairs, temps, ([a, p], t) => {
    for (const tt of [t, tMin]) {
      const { value, ga, gp } = gradients(loss, a, p, tt);
      if (!Number.isFinite(value)) throw new Violation(`loss = ${value} at tau = ${tt}`);
      const bad = [...ga, ...gp].find((g) => !Number.isFinite(g));
      if (bad !== undefined) throw new Violation(`gradient entry ${bad} at tau = ${tt} (loss ${value})`);
    }
  });

  const nonNegative = fc.property(pairs, temps, ([a, p], t) => {
    const l = evalLoss(loss, a, p, t);
    if (!(l >= -tol(0, 1))) throw new Violation(`loss = ${l} < 0 at tau = ${t}`);
  });

  const permutationInvariant = fc.property(
    pairs.chain(([a, p]) => fc.tuple(fc.constant([a, p] as [Embeddings, Embeddings]), permutation(a.length))),
    temps,
    ([[a, p], perm], t) => {
      const l0 = evalLoss(loss, a, p, t);
      const l1 = evalLoss(loss, permuteRows(a, perm), permuteRows(p, perm), t);
      if (!(Math.abs(l0 - l1) <= tol(l0, t))) throw new Violation(`loss ${l0} became ${l1} after permuting the batch by [${perm}] at tau = ${t}`);
    },
  );

  // Row r: anchor e_{d-2}, positive s e_{d-2} + sqrt(1 - s^2) e_{d-1}; all other rows live in the
  // first d - 2 coordinates, so only sim(anchor_r, positive_r) = s changes with s.
  const others = fc.integer(rows).chain((n) =>
    fc.tuple(
      fc.array(rowArb(d - 2, 1).map(normalizeRow), { minLength: n - 1, maxLength: n - 1 }),
      fc.array(rowArb(d - 2, 1).map(normalizeRow), { minLength: n - 1, maxLength: n - 1 }),
      fc.integer({ min: 0, max: n - 1 }),
    ),
  );
  const monotonicInPositive = fc.property(others, temps, ([oa, op, r], t) => {
    const grid = [-1, -0.5, 0, 0.5, 0.9, 1];
    const pad = (v: number[]) => [...v, 0, 0];
    const values = grid.map((s) => {
      const a = oa.map(pad);
      const p = op.map(pad);
      a.splice(r, 0, axis(d, d - 2));
      p.splice(r, 0, axis(d, d - 2, s).map((x, j) => (j === d - 1 ? Math.sqrt(Math.max(0, 1 - s * s)) : x)));
      return evalLoss(loss, a, p, t);
    });
    for (let k = 1; k < grid.length; k++) {
      if (!(values[k] <= values[k - 1] + tol(values[k - 1], t))) {
        throw new Violation(`loss rose from ${values[k - 1]} to ${values[k]} as the positive similarity of row ${r} rose from ${grid[k - 1]} to ${grid[k]} (tau = ${t})`);
      }
    }
    const first = values[0];
    const last = values[values.length - 1];
    if (!(last < first - tol(first, t))) throw new Violation(`loss did not fall as the positive similarity of row ${r} went from -1 (${first}) to 1 (${last}) (tau = ${t})`);
  });

  const separated = (n: number) => Array.from({ length: n }, (_, i) => axis(d, i));
  const tGrid = [tMin, 0.05, 0.1, 0.2, 0.5, 1, tRange.max].filter((t) => t >= tMin && t <= tRange.max).sort((x, y) => x - y);
  const temperatureMonotone = fc.property(fc.integer(rows), (n) => {
    const b = separated(n);
    const values = tGrid.map((t) => evalLoss(loss, b, b, t));
    for (let k = 1; k < tGrid.length; k++) {
      if (!(values[k] >= values[k - 1] - tol(values[k - 1], tGrid[k - 1]))) {
        throw new Violation(`on a separated batch of ${n} rows the loss fell from ${values[k - 1]} to ${values[k]} as tau rose from ${tGrid[k - 1]} to ${tGrid[k]}`);
      }
    }
    if (!(values[values.length - 1] > values[0] + tol(values[0], 1))) {
      throw new Violation(`on a separated batch of ${n} rows the loss does not depend on tau (${values[0]} at tau = ${tGrid[0]}, ${values[values.length - 1]} at tau = ${tGrid[tGrid.length - 1]}); is the temperature applied?`);
    }
  });

  const vanishesWhenSeparated = fc.property(fc.integer(rows), (n) => {
    const b = separated(n);
    const l = evalLoss(loss, b, b, tMin);
    if (!(Math.abs(l) <= 1e-3 + tol(0, 1))) throw new Violation(`on a separated batch of ${n} rows at tau = ${tMin} the loss is ${l}, not ~0`);
  });

  const gradPairs = fc.integer(rows).chain((n) =>
    fc.tuple(
      unitEmbeddingBatch({ rows: n, dim: d }),
      unitEmbeddingBatch({ rows: n, dim: d }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 0, max: d - 1 })), { minLength: 4, maxLength: 4 }),
    ),
  );
  const gradient = fc.property(gradPairs, temperature(gRange), ([a, p, coords], t) => {
    const { ga, gp } = gradients(loss, a, p, t);
    const eps = 2e-3;
    for (const [onAnchor, i, j] of coords) {
      const base = onAnchor ? a : p;
      const shifted = (delta: number) => base.map((row, ri) => row.map((x, ci) => (ri === i && ci === j ? x + delta : x)));
      const plus = onAnchor ? evalLoss(loss, shifted(eps), p, t) : evalLoss(loss, a, shifted(eps), t);
      const minus = onAnchor ? evalLoss(loss, shifted(-eps), p, t) : evalLoss(loss, a, shifted(-eps), t);
      const fd = (plus - minus) / (2 * eps);
      const g = (onAnchor ? ga : gp)[i * d + j];
      if (!(Math.abs(g - fd) <= gtol.atol + gtol.rtol * Math.max(Math.abs(g), Math.abs(fd)))) {
        throw new Violation(`d loss / d ${onAnchor ? 'anchors' : 'positives'}[${i}][${j}] = ${g} by tf.grads but ${fd} by central differences (tau = ${t})`);
      }
    }
  });

  const noTensorLeak = fc.property(pairs, temps, ([a, p], t) => {
    const ta = toTensor2d(a);
    const tp = toTensor2d(p);
    try {
      const before = tf.memory().numTensors;
      const out = loss(ta, tp, t);
      out.dispose();
      const after = tf.memory().numTensors;
      if (after !== before) throw new Violation(`one call left ${after - before} tensor(s) allocated after disposing its result`);
    } finally {
      ta.dispose();
      tp.dispose();
    }
  });

  return { finite, nonNegative, permutationInvariant, monotonicInPositive, temperatureMonotone, vanishesWhenSeparated, gradient, noTensorLeak };
}

/**
 * Runs the invariant checks on `loss` (see the module docs) and returns which passed. Throws a
 * LossInvariantError listing the failures (with shrunk counterexamples and the fast-check seed to
 * replay them) unless `throwOnFailure: false`.
 */
export function checkLossInvariants(loss: PairLoss, options: LossInvariantOptions = {}): LossInvariantReport {
  const props = lossInvariantProperties(loss, options);
  const skip = new Set<InvariantName>(options.skip ?? []);
  if (!(options.nonNegative ?? DEFAULT_LOSS_INVARIANT_OPTIONS.nonNegative)) skip.add('nonNegative');
  if (!(options.vanishesWhenSeparated ?? DEFAULT_LOSS_INVARIANT_OPTIONS.vanishesWhenSeparated)) skip.add('vanishesWhenSeparated');
  const numRuns = options.numRuns ?? DEFAULT_LOSS_INVARIANT_OPTIONS.numRuns;
  const report: LossInvariantReport = { passed: [], skipped: [], failed: [] };
  for (const name of Object.keys(props) as InvariantName[]) {
    if (skip.has(name)) {
      report.skipped.push(name);
      continue;
    }
    // Deterministic properties need one run per batch size only.
    const runs = name === 'temperatureMonotone' || name === 'vanishesWhenSeparated' ? Math.min(numRuns, 8) : numRuns;
    const details = fc.check(props[name], { numRuns: runs, ...(options.seed === undefined ? {} : { seed: options.seed }) });
    if (details.failed) {
      const e = details.errorInstance;
      const why = e instanceof Error ? `${e instanceof Violation ? '' : `${e.name}: `}${e.message}` : String(e);
      report.failed.push({ property: name, message: `${why}\n${fc.defaultReportMessage(details) ?? ''}` });
    }
    else report.passed.push(name);
  }
  if (report.failed.length > 0 && (options.throwOnFailure ?? DEFAULT_LOSS_INVARIANT_OPTIONS.throwOnFailure)) {
    throw new LossInvariantError(
      `checkLossInvariants: ${report.failed.length} invariant(s) failed: ${report.failed.map((f) => f.property).join(', ')}\n\n` +
        report.failed.map((f) => `## ${f.property}\n${f.message}`).join('\n\n'),
    );
  }
  return report;
}
