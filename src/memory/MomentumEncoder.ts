/**
 * MoCo's momentum (key) encoder (He et al. 2019, Sec. 3.2 "Momentum update", Eq. 2): the key
 * encoder's parameters are not trained by back-propagation but follow the query encoder's as an
 * exponential moving average, after every optimizer step:
 *
 *   theta_k <- m theta_k + (1 - m) theta_q          m = 0.999 by default (the paper)
 *
 * The helper pairs a list of query variables with key variables of the same shapes. Build the key
 * copies with `MomentumEncoder.fromQuery(queryVars)` (theta_k = theta_q at start, as MoCo, created
 * non-trainable and owned: `dispose()` frees them), or pass existing key variables to the
 * constructor (not owned). Updates run on the variables' device (no download).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, StateError } from '../errors.ts';
import { decodeArray, encodeArray, type EncodedArray } from '../internal/stateCodec.ts';

export interface MomentumEncoderConfig {
  /** m in theta_k <- m theta_k + (1 - m) theta_q. Default 0.999 (MoCo). In [0, 1]. */
  momentum?: number;
}

export const DEFAULT_MOMENTUM_ENCODER_CONFIG = { momentum: 0.999 } as const;

/** Full state: the key parameters (typed arrays) and the update count. */
export interface MomentumEncoderState {
  kind: 'MomentumEncoder';
  version: 1;
  momentum: number;
  /** Number of updates applied so far. */
  steps: number;
  shapes: number[][];
  values: Float32Array[];
}

export type MomentumEncoderJSON = Omit<MomentumEncoderState, 'values'> & { values: EncodedArray[] };

function checkVariables(fn: string, arg: string, vars: unknown): tf.Variable[] {
  if (!Array.isArray(vars) || vars.length === 0) throw new ArgumentError(fn, arg, 'must be a non-empty array of tf.Variable');
  vars.forEach((v, i) => {
    if (!(v instanceof tf.Variable)) throw new ArgumentError(fn, `${arg}[${i}]`, 'must be a tf.Variable');
    if (v.isDisposed) throw new ArgumentError(fn, `${arg}[${i}]`, 'is disposed');
    if (v.dtype !== 'float32') throw new ArgumentError(fn, `${arg}[${i}]`, `must be float32, got ${v.dtype}`);
  });
  return vars as tf.Variable[];
}

function checkMomentum(fn: string, m: unknown): number {
  if (typeof m !== 'number' || !(m >= 0 && m <= 1)) throw new ArgumentError(fn, 'config.momentum', `must be a number in [0, 1], got ${String(m)}`);
  return m;
}

export class MomentumEncoder {
  readonly momentum: number;
  readonly queryVariables: readonly tf.Variable[];
  readonly keyVariables: readonly tf.Variable[];
  private readonly owned: boolean;
  private count = 0;

  /** Pairs `query[i]` with `key[i]` (same shapes). The key variables stay yours to dispose. */
  constructor(query: tf.Variable[], key: tf.Variable[], config: MomentumEncoderConfig = {}) {
    const fn = 'MomentumEncoder';
    if (config === null || typeof config !== 'object') throw new ArgumentError(fn, 'config', 'must be an object');
    const q = checkVariables(fn, 'query', query);
    const k = checkVariables(fn, 'key', key);
    if (q.length !== k.length) throw new ArgumentError(fn, 'key', `has ${k.length} variables but query has ${q.length}`);
    q.forEach((v, i) => {
      if (v.shape.length !== k[i].shape.length || v.shape.some((s, j) => s !== k[i].shape[j])) {
        throw new ArgumentError(fn, `key[${i}]`, `has shape [${k[i].shape}] but query[${i}] has [${v.shape}]`);
      }
      if (k.indexOf(v) >= 0) throw new ArgumentError(fn, `query[${i}]`, 'is also a key variable; the key encoder needs its own copies (see MomentumEncoder.fromQuery)');
    });
    this.momentum = checkMomentum(fn, config.momentum ?? DEFAULT_MOMENTUM_ENCODER_CONFIG.momentum);
    this.queryVariables = q.slice();
    this.keyVariables = k.slice();
    this.owned = ownedNext;
    ownedNext = false;
  }

  /** Key variables created as copies of `query` (theta_k = theta_q), non-trainable, owned. */
  static fromQuery(query: tf.Variable[], config: MomentumEncoderConfig = {}): MomentumEncoder {
    const q = checkVariables('MomentumEncoder.fromQuery', 'query', query);
    checkMomentum('MomentumEncoder.fromQuery', (config ?? {}).momentum ?? DEFAULT_MOMENTUM_ENCODER_CONFIG.momentum);
    const keys = q.map((v) => tf.variable(v, false));
    ownedNext = true;
    try {
      return new MomentumEncoder(q, keys, config);
    } finally {
      ownedNext = false;
    }
  }

  /** Number of updates applied. */
  get steps(): number {
    return this.count;
  }

  /** theta_k <- m theta_k + (1 - m) theta_q for every pair. Call after the optimizer step. */
  update(): void {
    this.checkAlive('update');
    const m = this.momentum;
    tf.tidy(() => {
      this.keyVariables.forEach((k, i) => {
        k.assign(tf.add(tf.mul(k, m), tf.mul(this.queryVariables[i], 1 - m)));
      });
    });
    this.count++;
  }

  /** Full state for a checkpoint (downloads the key parameters). */
  state(): MomentumEncoderState {
    this.checkAlive('state');
    return {
      kind: 'MomentumEncoder',
      version: 1,
      momentum: this.momentum,
      steps: this.count,
      shapes: this.keyVariables.map((k) => k.shape.slice()),
      values: this.keyVariables.map((k) => (k.dataSync() as Float32Array).slice()),
    };
  }

  toJSON(): MomentumEncoderJSON {
    const s = this.state();
    return { ...s, values: s.values.map(encodeArray) };
  }

  /** Writes a checkpoint's key parameters and step count into this encoder's key variables. */
  loadState(state: MomentumEncoderState): void {
    const what = 'MomentumEncoder.loadState';
    this.checkAlive('loadState');
    if (state === null || typeof state !== 'object' || state.kind !== 'MomentumEncoder') throw new StateError(`${what}: not a MomentumEncoder state (kind ${String(state?.kind)})`);
    if (state.version !== 1) throw new StateError(`${what}: unsupported version ${String(state.version)}; this build reads version 1`);
    if (state.momentum !== this.momentum) throw new StateError(`${what}: the checkpoint has momentum ${state.momentum}, this encoder ${this.momentum}; build the encoder with the checkpoint's momentum`);
    if (!Number.isInteger(state.steps) || state.steps < 0) throw new StateError(`${what}: invalid steps ${state.steps}`);
    const k = this.keyVariables;
    if (!Array.isArray(state.values) || !Array.isArray(state.shapes) || state.values.length !== k.length || state.shapes.length !== k.length) {
      throw new StateError(`${what}: the checkpoint has ${state.values?.length} tensors, this encoder ${k.length}`);
    }
    k.forEach((v, i) => {
      const shape = state.shapes[i];
      if (!Array.isArray(shape) || shape.length !== v.shape.length || shape.some((s, j) => s !== v.shape[j])) {
        throw new StateError(`${what}: tensor ${i} has shape [${shape}] in the checkpoint, [${v.shape}] here`);
      }
      if (!(state.values[i] instanceof Float32Array) || state.values[i].length !== v.size) throw new StateError(`${what}: tensor ${i} must hold ${v.size} float32 values`);
    });
    tf.tidy(() => k.forEach((v, i) => v.assign(tf.tensor(state.values[i], v.shape, 'float32'))));
    this.count = state.steps;
  }

  /** A new encoder with owned key variables restored from `state`, paired with `query`. */
  static fromState(query: tf.Variable[], state: MomentumEncoderState): MomentumEncoder {
    if (state === null || typeof state !== 'object') throw new StateError('MomentumEncoder.fromState: expected a state object');
    const enc = MomentumEncoder.fromQuery(query, { momentum: state.momentum });
    try {
      enc.loadState(state);
    } catch (e) {
      enc.dispose();
      throw e;
    }
    return enc;
  }

  static fromJSON(query: tf.Variable[], json: MomentumEncoderJSON): MomentumEncoder {
    if (json === null || typeof json !== 'object' || !Array.isArray(json.values)) throw new StateError('MomentumEncoder.fromJSON: expected { values: [...] }');
    return MomentumEncoder.fromState(query, {
      ...json,
      values: json.values.map((v, i) => decodeArray(`MomentumEncoder.fromJSON values[${i}]`, v, 'float32')),
    });
  }

  /** Disposes the key variables if this encoder created them (`fromQuery` / `fromState`). */
  dispose(): void {
    if (this.owned) for (const k of this.keyVariables) if (!k.isDisposed) k.dispose();
  }

  private checkAlive(what: string): void {
    const dead = [...this.queryVariables, ...this.keyVariables].findIndex((v) => v.isDisposed);
    if (dead >= 0) throw new StateError(`MomentumEncoder.${what}: a ${dead < this.queryVariables.length ? 'query' : 'key'} variable was disposed`);
  }
}

/** Set by `fromQuery` for one constructor call: the key variables were created here. */
let ownedNext = false;
