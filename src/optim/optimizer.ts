/**
 * Base of contrastream's optimizers (SGD, LARS, Adam). Unlike tf.train optimizers they
 *  - take gradients with parameter names (`ParameterGradient`), so their state is keyed by the
 *    stable dotted names of Module.namedParameters(), not by tfjs' per-process variable ids;
 *  - expose their state as plain typed arrays (`getState` / `setState`) for checkpoints;
 *  - take the learning rate as a number or a schedule `step => lr`, evaluated at the
 *    optimizer's iteration count (0 for the first update).
 * Slot tensors (momentum, Adam moments) are created lazily on a parameter's first update.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, StateError } from '../errors.ts';

/** Learning rate as a function of the step (the optimizer's iteration count, from 0). */
export type LearningRateSchedule = (step: number) => number;
export type LearningRate = number | LearningRateSchedule;

/** A gradient with its parameter and the parameter's name. */
export interface ParameterGradient {
  name: string;
  variable: tf.Variable;
  gradient: tf.Tensor;
}

/** One slot tensor of one parameter, as data. */
export interface SlotState {
  shape: number[];
  values: Float32Array;
}

/** Everything an optimizer needs to resume: kind, iteration count, slots by parameter name. */
export interface OptimizerState {
  kind: string;
  iterations: number;
  slots: Record<string, Record<string, SlotState>>;
}

/** Default rule for which parameters get weight decay: all of them (PyTorch's behaviour). */
export const decayAll = (): boolean => true;
/** Common SSL rule (SimCLR, BYOL): no weight decay or LARS adaptation for biases and BN (rank ≤ 1). */
export const excludeBiasAndNorm = (_name: string, variable: tf.Variable): boolean => variable.rank <= 1;

export abstract class Optimizer {
  /** Name stored in the state ('sgd', 'lars', 'adam'); setState checks it. */
  abstract readonly kind: string;
  private iterationCount = 0;
  private readonly lr: LearningRate;
  private readonly slotVars = new Map<string, Map<string, tf.Variable>>();

  constructor(fn: string, lr: LearningRate) {
    if (typeof lr !== 'function' && !(typeof lr === 'number' && Number.isFinite(lr) && lr >= 0)) {
      throw new ArgumentError(fn, 'lr', `must be a number >= 0 or a schedule (step) => number, got ${String(lr)}`);
    }
    this.lr = lr;
  }

  /** Number of applyGradients calls so far (restored by setState). */
  get iterations(): number {
    return this.iterationCount;
  }

  /** The learning rate at `step` (default: the step the next update will use). */
  learningRate(step = this.iterationCount): number {
    const v = typeof this.lr === 'number' ? this.lr : this.lr(step);
    if (!(Number.isFinite(v) && v >= 0)) {
      throw new ArgumentError(`${this.constructor.name}.learningRate`, 'lr', `schedule returned ${v} at step ${step}; it must be a finite number >= 0`);
    }
    return v;
  }

  /** Updates each parameter in place from its gradient, then advances the iteration count. */
  applyGradients(gradients: readonly ParameterGradient[]): void {
    const seen = new Set<string>();
    for (const g of gradients) {
      if (seen.has(g.name)) throw new ArgumentError(`${this.constructor.name}.applyGradients`, 'gradients', `names parameter '${g.name}' twice`);
      seen.add(g.name);
      if (!tf.util.arraysEqual(g.gradient.shape, g.variable.shape)) {
        throw new ArgumentError(`${this.constructor.name}.applyGradients`, 'gradients', `for '${g.name}' has shape [${g.gradient.shape}], the parameter [${g.variable.shape}]`);
      }
      if (!g.variable.trainable) {
        throw new ArgumentError(`${this.constructor.name}.applyGradients`, 'gradients', `target '${g.name}' which is not trainable`);
      }
    }
    const lr = this.learningRate(this.iterationCount);
    tf.tidy(() => this.update(gradients, lr, this.iterationCount));
    this.iterationCount++;
  }

  /** Applies one step to every parameter; runs inside tf.tidy. `step` counts from 0. */
  protected abstract update(gradients: readonly ParameterGradient[], lr: number, step: number): void;

  /** The slot `slot` of parameter `name`, if created; checks it fits the parameter. */
  protected getSlot(name: string, slot: string, variable: tf.Variable): tf.Variable | undefined {
    const v = this.slotVars.get(name)?.get(slot);
    if (v !== undefined && !tf.util.arraysEqual(v.shape, variable.shape)) {
      throw new StateError(`${this.constructor.name}: state slot '${slot}' of '${name}' has shape [${v.shape}] but the parameter has [${variable.shape}]; the optimizer state belongs to another model`);
    }
    return v;
  }

  /** Sets (creating if needed) the slot to `value`; `value` stays owned by the caller/tidy. */
  protected setSlot(name: string, slot: string, value: tf.Tensor): void {
    let slots = this.slotVars.get(name);
    if (slots === undefined) this.slotVars.set(name, (slots = new Map()));
    const v = slots.get(slot);
    if (v === undefined) slots.set(slot, tf.variable(value, false));
    else v.assign(value);
  }

  /** Copies the state out as typed arrays (one data download per slot). */
  getState(): OptimizerState {
    const slots: OptimizerState['slots'] = {};
    for (const [name, m] of this.slotVars) {
      slots[name] = {};
      for (const [slot, v] of m) slots[name][slot] = { shape: [...v.shape], values: Float32Array.from(v.dataSync() as Float32Array) };
    }
    return { kind: this.kind, iterations: this.iterationCount, slots };
  }

  /** Replaces the state (validated first; on error nothing changes). */
  setState(state: OptimizerState): void {
    const fn = `${this.constructor.name}.setState`;
    if (typeof state !== 'object' || state === null) throw new StateError(`${fn}: state must be an object from getState()`);
    if (state.kind !== this.kind) throw new StateError(`${fn}: state is for a '${String(state.kind)}' optimizer, this is '${this.kind}'`);
    if (!Number.isInteger(state.iterations) || state.iterations < 0) throw new StateError(`${fn}: iterations must be an integer >= 0, got ${state.iterations}`);
    if (typeof state.slots !== 'object' || state.slots === null) throw new StateError(`${fn}: slots must be an object`);
    for (const [name, m] of Object.entries(state.slots)) {
      for (const [slot, s] of Object.entries(m)) {
        const size = Array.isArray(s?.shape) ? s.shape.reduce((a, b) => a * b, 1) : NaN;
        if (!(s?.values instanceof Float32Array) || !s.shape.every((d) => Number.isInteger(d) && d >= 0) || s.values.length !== size) {
          throw new StateError(`${fn}: slot '${slot}' of '${name}' must be { shape, values: Float32Array } with values.length = product(shape)`);
        }
        if (!this.slotNames().includes(slot)) throw new StateError(`${fn}: unknown slot '${slot}' for a '${this.kind}' optimizer (expected ${this.slotNames().join(', ')})`);
      }
    }
    this.disposeSlots();
    for (const [name, m] of Object.entries(state.slots)) {
      const slots = new Map<string, tf.Variable>();
      for (const [slot, s] of Object.entries(m)) {
        const t = tf.tensor(s.values, s.shape, 'float32');
        slots.set(slot, tf.variable(t, false));
        t.dispose();
      }
      this.slotVars.set(name, slots);
    }
    this.iterationCount = state.iterations;
  }

  /** Names of the slots this optimizer keeps per parameter. */
  protected abstract slotNames(): string[];

  private disposeSlots(): void {
    for (const m of this.slotVars.values()) for (const v of m.values()) v.dispose();
    this.slotVars.clear();
  }

  /** Frees the slot tensors. */
  dispose(): void {
    this.disposeSlots();
  }
}

/** Checks a hyperparameter is a finite number in [min, max]. */
export function checkRange(fn: string, arg: string, v: unknown, min: number, max = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ArgumentError(fn, arg, `must be a finite number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}
