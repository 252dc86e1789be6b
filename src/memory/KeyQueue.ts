/**
 * MoCo's dictionary as a queue (He et al. 2019, Sec. 3.2 "Dictionary as a queue"): K keys
 * produced by the momentum encoder on recent batches. Each step the B keys of the current batch
 * are enqueued and the B oldest are dequeued, so the queue is FIFO, advances exactly B entries per
 * step, and no entry is older than K/B steps. K must be a multiple of B (MoCo's code asserts the
 * same), so a batch never wraps around the end of the buffer.
 *
 * Storage: a tf tensor [K, D] kept on the backend's device (the keys come from the key encoder on
 * that device and feed the loss there; nothing is downloaded per step). Enqueueing builds the new
 * buffer from slices of the old one plus the new keys and disposes the old one. The step of every
 * entry is tracked on the host. The initial K keys are random unit vectors from `seed` (as MoCo's
 * randn-then-normalise), marked with step -1.
 *
 * Defaults: K = 65536, D = 128, B = 256 (MoCo v1 on ImageNet), seed 0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, StateError } from '../errors.ts';
import { SeededRng } from '../internal/seededRng.ts';
import { decodeArray, encodeArray, type EncodedArray } from '../internal/stateCodec.ts';

export interface KeyQueueConfig {
  /** K, the number of keys. Default 65536. A multiple of `batchSize`. */
  size?: number;
  /** D, the key dimension. Default 128. */
  dim?: number;
  /** B, the keys enqueued per step. Default 256. */
  batchSize?: number;
  /** Seed of the random initial keys. Default 0. */
  seed?: number;
}

export const DEFAULT_KEY_QUEUE_CONFIG = { size: 65536, dim: 128, batchSize: 256, seed: 0 } as const;

/** Full state of a queue, with typed arrays (see `toJSON` for a JSON-safe form). */
export interface KeyQueueState {
  kind: 'KeyQueue';
  version: 1;
  size: number;
  dim: number;
  batchSize: number;
  /** Row that the next batch overwrites (the oldest entry). */
  pointer: number;
  /** Step of the last enqueue (-1 if none). */
  lastStep: number;
  /** Step at which each entry was enqueued, -1 for the initial random keys. [K] */
  steps: Int32Array;
  /** K x D row-major keys. */
  keys: Float32Array;
}

export type KeyQueueJSON = Omit<KeyQueueState, 'steps' | 'keys'> & { steps: EncodedArray; keys: EncodedArray };

/** Set by `fromState` for the duration of one constructor call: restore instead of drawing keys. */
let restoring: KeyQueueState | undefined;

function positiveInt(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ArgumentError(fn, arg, `must be an integer >= 1, got ${String(v)}`);
  return v;
}

export class KeyQueue {
  readonly size: number;
  readonly dim: number;
  readonly batchSize: number;
  private buffer: tf.Tensor2D | undefined; // [K, D]
  private readonly steps: Int32Array; // [K]
  private ptr = 0;
  private last = -1;

  constructor(config: KeyQueueConfig = {}) {
    const fn = 'KeyQueue';
    if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
    const size = positiveInt(fn, 'config.size', config.size ?? DEFAULT_KEY_QUEUE_CONFIG.size);
    const dim = positiveInt(fn, 'config.dim', config.dim ?? DEFAULT_KEY_QUEUE_CONFIG.dim);
    const batchSize = positiveInt(fn, 'config.batchSize', config.batchSize ?? DEFAULT_KEY_QUEUE_CONFIG.batchSize);
    const seed = config.seed ?? DEFAULT_KEY_QUEUE_CONFIG.seed;
    if (!Number.isInteger(seed)) throw new ArgumentError(fn, 'config.seed', `must be an integer, got ${seed}`);
    if (size % batchSize !== 0) {
      throw new ArgumentError(fn, 'config.size', `must be a multiple of batchSize ${batchSize} (MoCo's queue), got ${size}; use e.g. ${Math.max(1, Math.round(size / batchSize)) * batchSize}`);
    }
    this.size = size;
    this.dim = dim;
    this.batchSize = batchSize;
    const restore = restoring;
    restoring = undefined;
    if (restore) {
      this.steps = restore.steps.slice();
      this.buffer = tf.keep(tf.tensor2d(restore.keys, [size, dim]));
      this.ptr = restore.pointer;
      this.last = restore.lastStep;
      return;
    }
    this.steps = new Int32Array(size).fill(-1);
    const rng = new SeededRng(seed);
    const init = new Float32Array(size * dim);
    for (let r = 0; r < size; r++) {
      let ss = 0;
      for (let c = 0; c < dim; c++) {
        const g = rng.nextGaussian();
        init[r * dim + c] = g;
        ss += g * g;
      }
      const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
      for (let c = 0; c < dim; c++) init[r * dim + c] *= inv;
    }
    this.buffer = tf.keep(tf.tensor2d(init, [size, dim]));
  }

  /** Row the next batch overwrites, i.e. the oldest entry. */
  get pointer(): number {
    return this.ptr;
  }

  /** Step of the last enqueue (-1 before the first). */
  get lastStep(): number {
    return this.last;
  }

  /** The K keys [K, D] (the buffer, in storage order; the loss does not depend on order). Caller disposes. */
  keys(): tf.Tensor2D {
    return tf.clone(this.live('keys'));
  }

  /** Step at which each entry was enqueued, -1 for initial random keys. A copy. [K] */
  entrySteps(): Int32Array {
    return this.steps.slice();
  }

  /** Age in steps of each entry at step `now` (default: the last step); -1 for initial keys. [K] */
  ages(now: number = this.last): Int32Array {
    return this.steps.map((s) => (s < 0 ? -1 : now - s));
  }

  /**
   * Enqueues exactly B keys [B, D] as step `step` (default: last step + 1; must increase),
   * dequeuing the B oldest. The queue keeps its own copy; the caller may dispose `keys`.
   */
  enqueue(keys: tf.Tensor2D, step?: number): void {
    const fn = 'KeyQueue.enqueue';
    const buf = this.live('enqueue');
    if (!(keys instanceof tf.Tensor)) throw new ArgumentError(fn, 'keys', 'must be a tf.Tensor2D');
    if (keys.isDisposed) throw new ArgumentError(fn, 'keys', 'is a disposed tensor');
    if (keys.rank !== 2 || keys.shape[0] !== this.batchSize || keys.shape[1] !== this.dim) {
      throw new ArgumentError(fn, 'keys', `must have shape [${this.batchSize}, ${this.dim}] (exactly one batch), got [${keys.shape.join(', ')}]`);
    }
    if (keys.dtype !== 'float32') throw new ArgumentError(fn, 'keys', `must be float32, got ${keys.dtype}`);
    const s = step ?? this.last + 1;
    if (!Number.isInteger(s) || s <= this.last) throw new ArgumentError(fn, 'step', `must be an integer greater than the last step ${this.last}, got ${s}`);
    const b = this.batchSize;
    const p = this.ptr;
    const next = tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      if (p > 0) parts.push(tf.slice(buf, [0, 0], [p, this.dim])); // [p, D] newer entries kept
      parts.push(keys); // [B, D] the new batch
      if (p + b < this.size) parts.push(tf.slice(buf, [p + b, 0], [this.size - p - b, this.dim])); // older entries kept
      return parts.length === 1 ? tf.clone(keys) : (tf.concat(parts, 0) as tf.Tensor2D); // [K, D]
    });
    this.buffer = tf.keep(next);
    buf.dispose();
    this.steps.fill(s, p, p + b);
    this.ptr = (p + b) % this.size;
    this.last = s;
  }

  /** Full state for a checkpoint (downloads the keys). */
  state(): KeyQueueState {
    const buf = this.live('state');
    return {
      kind: 'KeyQueue',
      version: 1,
      size: this.size,
      dim: this.dim,
      batchSize: this.batchSize,
      pointer: this.ptr,
      lastStep: this.last,
      steps: this.steps.slice(),
      keys: (buf.dataSync() as Float32Array).slice(),
    };
  }

  toJSON(): KeyQueueJSON {
    const s = this.state();
    return { ...s, steps: encodeArray(s.steps), keys: encodeArray(s.keys) };
  }

  static fromState(state: KeyQueueState): KeyQueue {
    const what = 'KeyQueue.fromState';
    if (state === null || typeof state !== 'object' || state.kind !== 'KeyQueue') throw new StateError(`${what}: not a KeyQueue state (kind ${String(state?.kind)})`);
    if (state.version !== 1) throw new StateError(`${what}: unsupported version ${String(state.version)}; this build reads version 1`);
    const { size, dim, batchSize, pointer, lastStep, steps, keys } = state;
    if (![size, dim, batchSize].every((v) => Number.isInteger(v) && v >= 1) || size % batchSize !== 0) {
      throw new StateError(`${what}: invalid size ${size}, dim ${dim} or batchSize ${batchSize}`);
    }
    if (!Number.isInteger(pointer) || pointer < 0 || pointer >= size || pointer % batchSize !== 0) throw new StateError(`${what}: invalid pointer ${pointer}`);
    if (!Number.isInteger(lastStep) || lastStep < -1) throw new StateError(`${what}: invalid lastStep ${lastStep}`);
    if (!(steps instanceof Int32Array) || steps.length !== size) throw new StateError(`${what}: steps must be an Int32Array of ${size} entries`);
    if (!(keys instanceof Float32Array) || keys.length !== size * dim) throw new StateError(`${what}: keys must be a Float32Array of ${size} x ${dim} values`);
    restoring = state;
    try {
      return new KeyQueue({ size, dim, batchSize, seed: 0 });
    } finally {
      restoring = undefined;
    }
  }

  static fromJSON(json: KeyQueueJSON): KeyQueue {
    if (json === null || typeof json !== 'object') throw new StateError('KeyQueue.fromJSON: expected an object');
    return KeyQueue.fromState({
      ...json,
      steps: decodeArray('KeyQueue.fromJSON steps', json.steps, 'int32'),
      keys: decodeArray('KeyQueue.fromJSON keys', json.keys, 'float32'),
    });
  }

  /** Frees the key tensor. The queue is unusable afterwards. */
  dispose(): void {
    this.buffer?.dispose();
    this.buffer = undefined;
  }

  private live(what: string): tf.Tensor2D {
    if (!this.buffer || this.buffer.isDisposed) throw new StateError(`KeyQueue.${what}: the queue was disposed`);
    return this.buffer;
  }
}
