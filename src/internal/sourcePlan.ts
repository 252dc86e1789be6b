/**
 * Order of emission for sources: subset, epochs, per-epoch shuffle with a seed.
 */
import { ArgumentError } from '../errors.ts';
import { Rng } from './prng.ts';

/** Options every source accepts. */
export interface SourceConfig {
  /** Seed of the shuffle and of a random subset. Default 0. */
  seed?: number;
  /** Shuffle anew every epoch (a permutation keyed by (seed, epoch)). Default false. */
  shuffle?: boolean;
  /** Passes over the data; `Infinity` for an endless stream. Default 1. */
  epochs?: number;
  /**
   * Only some samples: a count n (the first n in file order), a list of dataset indices, or
   * `{ count, random: true }` (n indices drawn without replacement with the seed).
   */
  subset?: number | readonly number[] | { count: number; random: true };
  /**
   * Skip the first `start` items of the whole plan (across epochs), e.g. to resume a run
   * mid-epoch: item k of the plan is the same with or without `start`. Default 0.
   */
  start?: number;
}

export const DEFAULT_SOURCE_CONFIG = { seed: 0, shuffle: false, epochs: 1 } as const;

const SHUFFLE_TAG = 0x5348_5546; // distinguishes shuffle streams from augmentation streams
const SUBSET_TAG = 0x5355_4253;

export function checkSourceConfig(fn: string, config: SourceConfig): void {
  const epochs = config.epochs ?? DEFAULT_SOURCE_CONFIG.epochs;
  if (!(epochs === Infinity || (Number.isInteger(epochs) && epochs >= 0))) {
    throw new ArgumentError(fn, 'config.epochs', `must be a non-negative integer or Infinity, got ${config.epochs}`);
  }
  if (config.seed !== undefined && !Number.isFinite(config.seed)) throw new ArgumentError(fn, 'config.seed', `must be a finite number, got ${config.seed}`);
  if (config.start !== undefined && !(Number.isInteger(config.start) && config.start >= 0)) {
    throw new ArgumentError(fn, 'config.start', `must be a non-negative integer (items of the plan to skip), got ${config.start}`);
  }
}

/** Dataset indices selected by `subset` (in emission order before shuffling). */
export function resolveSubset(fn: string, n: number, config: SourceConfig): Int32Array {
  const subset = config.subset;
  if (subset === undefined) {
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  if (typeof subset === 'number') {
    if (!(Number.isInteger(subset) && subset >= 0)) throw new ArgumentError(fn, 'config.subset', `must be a non-negative integer, got ${subset}`);
    const m = Math.min(subset, n);
    const out = new Int32Array(m);
    for (let i = 0; i < m; i++) out[i] = i;
    return out;
  }
  if (Array.isArray(subset)) {
    const out = new Int32Array(subset.length);
    subset.forEach((v, i) => {
      if (!(Number.isInteger(v) && v >= 0 && v < n)) throw new ArgumentError(fn, `config.subset[${i}]`, `must be an index in [0, ${n}), got ${v}`);
      out[i] = v;
    });
    return out;
  }
  const { count } = subset as { count: number; random: true };
  if (!(Number.isInteger(count) && count >= 0)) throw new ArgumentError(fn, 'config.subset.count', `must be a non-negative integer, got ${count}`);
  const perm = new Rng(config.seed ?? 0, SUBSET_TAG, n, 0).permutation(n);
  const chosen = perm.subarray(0, Math.min(count, n)).slice();
  chosen.sort();
  return chosen;
}

/** The order of epoch `epoch`: `base` itself, or its permutation keyed by (seed, epoch). */
export function epochOrder(base: Int32Array, epoch: number, config: SourceConfig): Int32Array {
  if (!(config.shuffle ?? DEFAULT_SOURCE_CONFIG.shuffle)) return base;
  const perm = new Rng(config.seed ?? 0, epoch, SHUFFLE_TAG, base.length).permutation(base.length);
  const out = new Int32Array(base.length);
  for (let i = 0; i < base.length; i++) out[i] = base[perm[i]];
  return out;
}

/**
 * Iterates (epoch, dataset index) pairs lazily. `needsAll` tells sources whether the first
 * item may be anywhere in the data (shuffled or explicit subset order), i.e. random access.
 */
export class EpochCursor {
  readonly epochs: number;
  private epoch = 0;
  private pos = 0;
  private order: Int32Array | undefined;

  constructor(
    private readonly base: Int32Array,
    private readonly config: SourceConfig,
  ) {
    this.epochs = config.epochs ?? DEFAULT_SOURCE_CONFIG.epochs;
    const start = config.start ?? 0;
    if (start > 0 && base.length > 0) {
      this.epoch = Math.floor(start / base.length);
      this.pos = start % base.length;
    }
  }

  /** Next (epoch, index), or undefined at the end. */
  next(): { epoch: number; index: number } | undefined {
    if (this.base.length === 0) return undefined;
    while (this.epoch < this.epochs) {
      if (!this.order) this.order = epochOrder(this.base, this.epoch, this.config);
      if (this.pos < this.order.length) return { epoch: this.epoch, index: this.order[this.pos++] };
      this.epoch++;
      this.pos = 0;
      this.order = undefined;
    }
    return undefined;
  }
}
