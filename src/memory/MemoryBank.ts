/**
 * The memory bank of InstDisc (Wu et al. 2018, Sec. 3.2) and CMC (Tian et al. 2019, one bank per
 * view): one L2-normalised D-dim row v_i per training instance, read as positives and uniform
 * negatives, and updated after every step with momentum, then renormalised:
 *
 *   v_i <- normalize( m v_i + (1 - m) f_i )          m = 0.5 by default (the paper)
 *
 * Storage: a host Float32Array of n x D values, not a tf tensor. Updates touch B rows per step at
 * random places, which is O(B D) in place on a typed array but a full n x D copy with tensors
 * (tfjs has no in-place scatter). Reads (`rows`, `sample`, `samplePerRow`) return fresh tensors
 * of only the rows asked for; the caller disposes them.
 *
 * Initialisation: rows drawn from a seeded isotropic Gaussian and normalised, i.e. uniform on the
 * unit sphere (the reference code draws uniform in a cube and does not normalise; the issue asks
 * for unit rows from the start). Negatives are drawn uniformly with replacement (P_n = 1/n) from a
 * seeded PRNG whose state is part of the checkpoint, so a resumed run draws the same negatives.
 *
 * Two ways to update:
 * - `update(indices, features)`: synchronous, applied now.
 * - `scheduleUpdate(indices, features, step)`: asynchronous, used by the `updateMemoryBank`
 *   operator. It clones the tensor and starts its download (`tensor.data()`), returns at once,
 *   and applies the rows once the data has arrived and every earlier step has been applied: in
 *   step order, never blocking the caller. Every read first applies, in order, all scheduled
 *   updates whose data is already there. `await flush()` waits for all of them (do it before
 *   `state()` / checkpoints; `state()` refuses while updates are pending).
 * Rows repeated within one update are applied one after another, in order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, StateError } from '../errors.ts';
import { SeededRng } from '../internal/seededRng.ts';
import { decodeArray, encodeArray, type EncodedArray } from '../internal/stateCodec.ts';

export interface MemoryBankConfig {
  /** n, the number of instances (rows). Required. */
  size: number;
  /** D, the feature dimension. Default 128 (InstDisc). */
  dim?: number;
  /** m in v <- normalize(m v + (1 - m) f). Default 0.5 (InstDisc). In [0, 1]. */
  momentum?: number;
  /** Seed of the initial rows and of the negative draws. Default 0. */
  seed?: number;
}

export const DEFAULT_MEMORY_BANK_CONFIG = { dim: 128, momentum: 0.5, seed: 0 } as const;

/** Full state of a bank, with typed arrays (see `toJSON` for a JSON-safe form). */
export interface MemoryBankState {
  kind: 'MemoryBank';
  version: 1;
  size: number;
  dim: number;
  momentum: number;
  /** State of the negative-sampling PRNG. */
  rngState: number;
  /** Step of the last update applied (-1 if none). */
  lastStep: number;
  /** n x D row-major rows. */
  rows: Float32Array;
}

/** `MemoryBankState` with the rows base64-encoded. */
export type MemoryBankJSON = Omit<MemoryBankState, 'rows'> & { rows: EncodedArray };

interface PendingUpdate {
  step: number;
  indices: Int32Array;
  data?: Float32Array;
  ready: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const NORM_FLOOR = 1e-12;

/** Set by `fromState` for the duration of one constructor call: restore instead of drawing rows. */
let restoring: MemoryBankState | undefined;

function checkIndices(fn: string, arg: string, indices: unknown, n: number): Int32Array {
  if (indices === null || typeof indices !== 'object' || typeof (indices as ArrayLike<number>).length !== 'number') {
    throw new ArgumentError(fn, arg, 'must be an array of row indices');
  }
  const a = indices as ArrayLike<number>;
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (!Number.isInteger(x) || x < 0 || x >= n) throw new ArgumentError(fn, arg, `entry ${i} must be an integer row in [0, ${n}), got ${x}`);
    out[i] = x;
  }
  return out;
}

function checkK(fn: string, k: unknown): number {
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw new ArgumentError(fn, 'k', `must be an integer >= 1, got ${String(k)}`);
  return k;
}

export class MemoryBank {
  readonly size: number;
  readonly dim: number;
  readonly momentum: number;
  private readonly data: Float32Array; // [n * D]
  private readonly rng: SeededRng;
  private pending: PendingUpdate[] = [];
  private lastScheduled: number;
  private lastApplied: number;
  private failure: { error: unknown } | undefined;

  constructor(config: MemoryBankConfig) {
    const fn = 'MemoryBank';
    if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
    const { size } = config;
    const dim = config.dim ?? DEFAULT_MEMORY_BANK_CONFIG.dim;
    const momentum = config.momentum ?? DEFAULT_MEMORY_BANK_CONFIG.momentum;
    const seed = config.seed ?? DEFAULT_MEMORY_BANK_CONFIG.seed;
    if (!Number.isInteger(size) || size < 1) throw new ArgumentError(fn, 'config.size', `must be an integer >= 1, got ${size}`);
    if (!Number.isInteger(dim) || dim < 1) throw new ArgumentError(fn, 'config.dim', `must be an integer >= 1, got ${dim}`);
    if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
      throw new ArgumentError(fn, 'config.momentum', `must be a number in [0, 1], got ${momentum}`);
    }
    if (!Number.isInteger(seed)) throw new ArgumentError(fn, 'config.seed', `must be an integer, got ${seed}`);
    this.size = size;
    this.dim = dim;
    this.momentum = momentum;
    this.rng = new SeededRng(seed);
    const restore = restoring;
    restoring = undefined;
    if (restore) {
      this.data = restore.rows.slice();
      this.rng.setState(restore.rngState);
      this.lastScheduled = this.lastApplied = restore.lastStep;
      return;
    }
    this.data = new Float32Array(size * dim);
    this.lastScheduled = -1;
    this.lastApplied = -1;
    for (let r = 0; r < size; r++) {
      let ss = 0;
      for (let c = 0; c < dim; c++) {
        const g = this.rng.nextGaussian();
        this.data[r * dim + c] = g;
        ss += g * g;
      }
      const inv = 1 / Math.max(Math.sqrt(ss), NORM_FLOOR);
      for (let c = 0; c < dim; c++) this.data[r * dim + c] *= inv;
    }
  }

  /** Number of scheduled updates not applied yet. */
  get pendingUpdates(): number {
    return this.pending.length;
  }

  /** Step of the last applied update (-1 before the first). */
  get lastStep(): number {
    return this.lastApplied;
  }

  /** The bank rows at `indices`, [indices.length, D]. Applies ready updates first. Caller disposes. */
  rows(indices: ArrayLike<number>): tf.Tensor2D {
    const idx = checkIndices('MemoryBank.rows', 'indices', indices, this.size);
    if (idx.length === 0) throw new ArgumentError('MemoryBank.rows', 'indices', 'is empty');
    this.applyReady();
    return tf.tensor2d(this.gather(idx), [idx.length, this.dim]);
  }

  /**
   * k row indices drawn uniformly with replacement (P_n = 1/n, as InstDisc) from the rows not in
   * `exclude`. Seeded: advances the bank's PRNG.
   */
  sampleIndices(k: number, exclude?: ArrayLike<number>): Int32Array {
    const fn = 'MemoryBank.sampleIndices';
    checkK(fn, k);
    const ex = exclude === undefined ? undefined : new Set(checkIndices(fn, 'exclude', exclude, this.size));
    if (ex && ex.size >= this.size) throw new ArgumentError(fn, 'exclude', `excludes all ${this.size} rows; nothing is left to sample`);
    const out = new Int32Array(k);
    for (let i = 0; i < k; i++) {
      let j = this.rng.nextInt(this.size);
      while (ex?.has(j)) j = this.rng.nextInt(this.size);
      out[i] = j;
    }
    return out;
  }

  /** k uniform negatives shared by the batch, [k, D] (see `sampleIndices`). Caller disposes. */
  sample(k: number, exclude?: ArrayLike<number>): tf.Tensor2D {
    const idx = this.sampleIndices(k, exclude);
    this.applyReady();
    return tf.tensor2d(this.gather(idx), [k, this.dim]);
  }

  /**
   * k uniform negatives per anchor, [B, k, D]; row b never draws anchors[b] (the instance itself,
   * as the positive is read separately). Caller disposes.
   */
  samplePerRow(anchors: ArrayLike<number>, k: number): tf.Tensor3D {
    const fn = 'MemoryBank.samplePerRow';
    const a = checkIndices(fn, 'anchors', anchors, this.size);
    checkK(fn, k);
    if (a.length === 0) throw new ArgumentError(fn, 'anchors', 'is empty');
    if (this.size < 2) throw new ArgumentError(fn, 'anchors', 'cannot exclude its own row from a bank of 1 row');
    const idx = new Int32Array(a.length * k);
    for (let b = 0; b < a.length; b++) {
      for (let i = 0; i < k; i++) {
        let j = this.rng.nextInt(this.size);
        while (j === a[b]) j = this.rng.nextInt(this.size);
        idx[b * k + i] = j;
      }
    }
    this.applyReady();
    return tf.tensor3d(this.gather(idx), [a.length, k, this.dim]);
  }

  /** Synchronous update v_i <- normalize(m v_i + (1 - m) f_i) of the rows `indices`. */
  update(indices: ArrayLike<number>, features: tf.Tensor2D | Float32Array): void {
    this.writeNow('MemoryBank.update', 'a synchronous update so steps stay in order', indices, features, this.momentum);
    this.lastScheduled += 1;
    this.lastApplied = this.lastScheduled;
  }

  /**
   * Overwrites the rows `indices` with normalize(f_i), without momentum and without counting a
   * step: for filling the bank before training (e.g. from the initial encoder, instead of the
   * random rows). Refused while scheduled updates are pending.
   */
  assign(indices: ArrayLike<number>, features: tf.Tensor2D | Float32Array): void {
    this.writeNow('MemoryBank.assign', 'assigning rows', indices, features, 0);
  }

  /**
   * Schedules the update of step `step` (default: the last scheduled step + 1; must increase).
   * Returns at once; the promise settles when this step's rows are applied. The tensor is cloned,
   * so the caller may dispose `features` right away.
   */
  scheduleUpdate(indices: ArrayLike<number>, features: tf.Tensor2D, step?: number): Promise<void> {
    const fn = 'MemoryBank.scheduleUpdate';
    this.throwIfFailed();
    const idx = checkIndices(fn, 'indices', indices, this.size);
    const t = this.checkFeatures(fn, idx.length, features);
    if (!(t instanceof tf.Tensor)) throw new ArgumentError(fn, 'features', 'must be a tf.Tensor2D');
    const s = step ?? this.lastScheduled + 1;
    if (!Number.isInteger(s) || s <= this.lastScheduled) {
      throw new ArgumentError(fn, 'step', `must be an integer greater than the last scheduled step ${this.lastScheduled}, got ${s}`);
    }
    this.lastScheduled = s;
    const copy = tf.keep(tf.clone(t));
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: PendingUpdate = { step: s, indices: idx, resolve, reject, ready: Promise.resolve() };
    entry.ready = copy.data().then(
      (d) => {
        copy.dispose();
        if (this.failure) return;
        entry.data = d as Float32Array;
        this.drain();
      },
      (error: unknown) => {
        copy.dispose();
        this.fail(new StateError(`${fn}: reading the features of step ${s} failed; the bank stopped applying updates`, { cause: error }));
      },
    );
    this.pending.push(entry);
    done.catch(() => undefined); // a caller that ignores this promise sees the failure via flush() or the next read
    return done;
  }

  /** Resolves once every scheduled update has been applied (rejects if one failed). */
  async flush(): Promise<void> {
    while (this.pending.length > 0 && !this.failure) {
      await Promise.all(this.pending.map((p) => p.ready));
      this.drain();
    }
    this.throwIfFailed();
  }

  /** Full state for a checkpoint. Throws StateError while scheduled updates are pending. */
  state(): MemoryBankState {
    this.throwIfFailed();
    this.applyReady();
    if (this.pending.length > 0) {
      throw new StateError(`MemoryBank.state: ${this.pending.length} scheduled update(s) still pending; await bank.flush() first`);
    }
    return {
      kind: 'MemoryBank',
      version: 1,
      size: this.size,
      dim: this.dim,
      momentum: this.momentum,
      rngState: this.rng.state,
      lastStep: this.lastApplied,
      rows: this.data.slice(),
    };
  }

  /** `state()` with the rows base64-encoded, for JSON.stringify. */
  toJSON(): MemoryBankJSON {
    const s = this.state();
    return { ...s, rows: encodeArray(s.rows) };
  }

  /** A bank equal to the one that produced `state` (same rows, momentum, PRNG state, step). */
  static fromState(state: MemoryBankState): MemoryBank {
    const what = 'MemoryBank.fromState';
    if (state === null || typeof state !== 'object' || state.kind !== 'MemoryBank') throw new StateError(`${what}: not a MemoryBank state (kind ${String(state?.kind)})`);
    if (state.version !== 1) throw new StateError(`${what}: unsupported version ${String(state.version)}; this build reads version 1`);
    const { size, dim, momentum, rngState, lastStep, rows } = state;
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(dim) || dim < 1) throw new StateError(`${what}: invalid size ${size} or dim ${dim}`);
    if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) throw new StateError(`${what}: invalid momentum ${momentum}`);
    if (!Number.isInteger(rngState) || !Number.isInteger(lastStep)) throw new StateError(`${what}: invalid rngState or lastStep`);
    if (!(rows instanceof Float32Array) || rows.length !== size * dim) {
      throw new StateError(`${what}: rows must be a Float32Array of ${size} x ${dim} = ${size * dim} values, got ${rows?.length}`);
    }
    restoring = state;
    try {
      return new MemoryBank({ size, dim, momentum, seed: 0 });
    } finally {
      restoring = undefined;
    }
  }

  /** Inverse of `toJSON` (accepts the parsed JSON object). */
  static fromJSON(json: MemoryBankJSON): MemoryBank {
    if (json === null || typeof json !== 'object') throw new StateError('MemoryBank.fromJSON: expected an object');
    return MemoryBank.fromState({ ...json, rows: decodeArray('MemoryBank.fromJSON rows', json.rows, 'float32') });
  }

  // ---- internals -----------------------------------------------------------------------------

  private gather(idx: Int32Array): Float32Array {
    const d = this.dim;
    const out = new Float32Array(idx.length * d);
    for (let i = 0; i < idx.length; i++) out.set(this.data.subarray(idx[i] * d, idx[i] * d + d), i * d);
    return out;
  }

  private checkFeatures(fn: string, rows: number, features: unknown): tf.Tensor2D | Float32Array {
    if (features instanceof Float32Array) {
      if (features.length !== rows * this.dim) throw new ArgumentError(fn, 'features', `must hold ${rows} x ${this.dim} values, got ${features.length}`);
      return features;
    }
    if (!(features instanceof tf.Tensor)) throw new ArgumentError(fn, 'features', 'must be a tf.Tensor2D or a Float32Array');
    if (features.isDisposed) throw new ArgumentError(fn, 'features', 'is a disposed tensor');
    if (features.rank !== 2 || features.shape[0] !== rows || features.shape[1] !== this.dim) {
      throw new ArgumentError(fn, 'features', `must have shape [${rows}, ${this.dim}] (one row per index), got [${features.shape.join(', ')}]`);
    }
    if (features.dtype !== 'float32') throw new ArgumentError(fn, 'features', `must be float32, got ${features.dtype}`);
    return features as tf.Tensor2D;
  }

  /** Synchronous normalize(m v_i + (1 - m) f_i) of the rows `indices`; refused while updates are pending. */
  private writeNow(fn: string, what: string, indices: ArrayLike<number>, features: tf.Tensor2D | Float32Array, m: number): void {
    this.throwIfFailed();
    if (this.pending.length > 0) {
      throw new StateError(`${fn}: ${this.pending.length} scheduled update(s) still pending; await bank.flush() before ${what}`);
    }
    const idx = checkIndices(fn, 'indices', indices, this.size);
    const values = this.checkFeatures(fn, idx.length, features);
    this.applyRows(idx, values instanceof Float32Array ? values : (values.dataSync() as Float32Array), m);
  }

  private applyRows(idx: Int32Array, f: Float32Array, m = this.momentum): void {
    const d = this.dim;
    const row = new Float64Array(d);
    for (let i = 0; i < idx.length; i++) {
      const off = idx[i] * d;
      let ss = 0;
      for (let c = 0; c < d; c++) {
        const w = m * this.data[off + c] + (1 - m) * f[i * d + c];
        row[c] = w;
        ss += w * w;
      }
      const norm = Math.sqrt(ss);
      if (!(norm > NORM_FLOOR)) continue; // m v + (1 - m) f = 0 (or NaN input): keep the row, it has no direction
      for (let c = 0; c < d; c++) this.data[off + c] = row[c] / norm;
    }
  }

  /** Applies, in step order, every pending update at the head of the queue whose data has arrived. */
  private applyReady(): void {
    this.throwIfFailed();
    this.drain();
  }

  /** `applyReady` without the failure check; never throws (runs in promise callbacks). */
  private drain(): void {
    while (this.pending.length > 0 && this.pending[0].data !== undefined) {
      const p = this.pending.shift() as PendingUpdate;
      this.applyRows(p.indices, p.data as Float32Array);
      this.lastApplied = p.step;
      p.resolve();
    }
  }

  private fail(error: unknown): void {
    if (!this.failure) this.failure = { error };
    for (const p of this.pending) p.reject(this.failure.error);
    this.pending = [];
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
