/**
 * A tiny module system in the spirit of torch.nn.Module / nanoGPT: a module owns named
 * trainable parameters (`tf.Variable`, trainable) and buffers (`tf.Variable`, not trainable,
 * e.g. BN running statistics), and named child modules. Names compose with dots exactly as in
 * PyTorch's state_dict (`layer1.0.conv1.weight`, `bn1.running_mean`), so checkpoints are easy
 * to map to and from torchvision (our conv kernels are HWIO, PyTorch's OIHW; our linear
 * weights are [in, out], PyTorch's [out, in]).
 *
 * `forward(x, { training })` returns a new tensor and frees its intermediates; the caller owns
 * the result. Variables are named by tfjs (unique ids) so any number of models can coexist;
 * the dotted names live here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ContrastreamError } from '../errors.ts';

export interface ForwardOptions {
  /** Training mode: BN uses batch statistics and updates its running statistics. */
  training: boolean;
}

const NAME = /^[A-Za-z0-9_]+$/;

export abstract class Module {
  private readonly ownParameters = new Map<string, tf.Variable>();
  private readonly ownBuffers = new Map<string, tf.Variable>();
  private readonly childModules = new Map<string, Module>();
  private readonly ownedTensors: tf.Tensor[] = [];
  private isDisposed = false;

  /** Maps x to the module's output. Frees intermediates; the caller owns the result. */
  abstract forward(x: tf.Tensor, options: ForwardOptions): tf.Tensor;

  /** Registers a trainable parameter initialised from `init` (the module takes ownership of `init`). */
  protected addParameter(name: string, init: tf.Tensor): tf.Variable {
    return this.addVariable(this.ownParameters, name, init, true);
  }

  /** Registers a non-trainable buffer initialised from `init` (ownership taken). */
  protected addBuffer(name: string, init: tf.Tensor): tf.Variable {
    return this.addVariable(this.ownBuffers, name, init, false);
  }

  /** Registers a child module; its weights appear as `name.<child weight>`. */
  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    if (!(module instanceof Module)) throw new ArgumentError(`${this.constructor.name}.addModule`, name, 'is not a Module');
    this.childModules.set(name, module);
    return module;
  }

  /** Keeps a constant tensor alive for the module's lifetime (freed by dispose). */
  protected ownTensor<T extends tf.Tensor>(t: T): T {
    this.ownedTensors.push(tf.keep(t));
    return t;
  }

  private addVariable(into: Map<string, tf.Variable>, name: string, init: tf.Tensor, trainable: boolean): tf.Variable {
    this.checkName(name);
    const v = tf.variable(init, trainable);
    init.dispose();
    into.set(name, v);
    return v;
  }

  private checkName(name: string): void {
    if (!NAME.test(name)) {
      throw new ArgumentError(`${this.constructor.name}`, 'name', `'${name}' must match ${NAME} (dots separate levels)`);
    }
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.childModules.has(name)) {
      throw new ArgumentError(`${this.constructor.name}`, 'name', `'${name}' is already registered`);
    }
  }

  /** Direct children, in registration order. */
  children(): [string, Module][] {
    return [...this.childModules];
  }

  /** The child registered under `name` (throws if absent). */
  child(name: string): Module {
    const m = this.childModules.get(name);
    if (m === undefined) throw new ArgumentError(`${this.constructor.name}.child`, 'name', `'${name}' is not a child module`);
    return m;
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  modules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.childModules) out.push(...m.modules(prefix === '' ? n : `${prefix}.${n}`));
    return out;
  }

  /** Trainable parameters by dotted name (own first, then children), PyTorch order. */
  namedParameters(): Map<string, tf.Variable> {
    return this.collect('parameters');
  }

  /** Buffers (non-trainable state such as BN running statistics) by dotted name. */
  namedBuffers(): Map<string, tf.Variable> {
    return this.collect('buffers');
  }

  /** Everything to save (parameters and buffers) by dotted name, like PyTorch's state_dict. */
  namedWeights(): Map<string, tf.Variable> {
    return this.collect('both');
  }

  /** Trainable parameters, for tf.variableGrads and optimizers. */
  parameters(): tf.Variable[] {
    return [...this.namedParameters().values()];
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    let n = 0;
    for (const v of this.namedParameters().values()) n += v.size;
    return n;
  }

  private collect(kind: 'parameters' | 'buffers' | 'both', prefix = '', out = new Map<string, tf.Variable>()) {
    this.assertAlive();
    const p = (n: string) => (prefix === '' ? n : `${prefix}.${n}`);
    if (kind !== 'buffers') for (const [n, v] of this.ownParameters) out.set(p(n), v);
    if (kind !== 'parameters') for (const [n, v] of this.ownBuffers) out.set(p(n), v);
    for (const [n, m] of this.childModules) m.collect(kind, p(n), out);
    return out;
  }

  /** Throws if the module was disposed. */
  protected assertAlive(): void {
    if (this.isDisposed) throw new ContrastreamError(`${this.constructor.name}: used after dispose()`);
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Frees every variable and constant of this module and its children. Idempotent. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const v of this.ownParameters.values()) v.dispose();
    for (const v of this.ownBuffers.values()) v.dispose();
    for (const t of this.ownedTensors) t.dispose();
    for (const m of this.childModules.values()) m.dispose();
  }
}

/** Checks that `x` is a float tensor of `rank` with `channels` in the last axis (if given). */
export function checkInput(fn: string, x: tf.Tensor, rank: number, channels?: number): void {
  if (!(x instanceof tf.Tensor)) throw new ArgumentError(fn, 'x', 'must be a tf.Tensor');
  if (x.rank !== rank) {
    throw new ArgumentError(fn, 'x', `must have rank ${rank}${rank === 4 ? ' (NHWC)' : ''}, got shape [${x.shape}]`);
  }
  if (channels !== undefined && x.shape[rank - 1] !== channels) {
    throw new ArgumentError(fn, 'x', `must have ${channels} channels in the last axis, got shape [${x.shape}]`);
  }
}

/** Checks a positive integer option. */
export function checkPositiveInt(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ArgumentError(fn, arg, `must be a positive integer, got ${String(v)}`);
  }
  return v;
}
