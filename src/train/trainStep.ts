/**
 * One optimisation step:
 *
 *   loss, ∇ ← tf.variableGrads(lossFn, params)      (BN running-stat updates deferred)
 *   read [loss, Σ 0·∇ (NaN iff some gradient is NaN/Inf), ‖∇‖²] in ONE device read
 *   if the loss or a gradient is not finite: throw DivergenceError (nothing is updated)
 *   optionally clip: ∇ ← ∇·min(1, maxGradNorm/‖∇‖)
 *   optimizer.applyGradients(∇); commit the BN running-statistics updates
 *
 * Every intermediate is freed: `tf.memory().numTensors` is flat from step to step (after the
 * optimizer creates its slots on the first step). A diverged step leaves parameters, optimizer
 * state and BN running statistics as they were; the error names the step (the optimizer's
 * iteration, or `step`) and what to try.
 *
 * `params`: a Module (its named parameters), a Map/record of named variables, or a variable
 * array (named by tfjs variable names — fine for one process, not stable in checkpoints).
 * `optimizer`: a contrastream Optimizer (SGD, LARS, Adam), or a tf.train optimizer.
 * Gradients must be registered first: `await registerGradients()` (trainStepAsync does it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, ContrastreamError, DivergenceError } from '../errors.ts';
import { gradientsRegistered, registerGradients } from './registerGradients.ts';
import { Module } from '../models/module.ts';
import { deferBufferUpdates, type PendingBufferUpdates } from '../models/bufferUpdates.ts';
import { Optimizer, type ParameterGradient } from '../optim/optimizer.ts';

export type TrainableParams =
  | Module
  | ReadonlyMap<string, tf.Variable>
  | Readonly<Record<string, tf.Variable>>
  | readonly tf.Variable[];

export interface TrainStepConfig {
  /** The parameters to train. */
  params: TrainableParams;
  /** Builds the loss from the parameters; runs under the gradient tape. Must return a scalar. */
  lossFn: () => tf.Scalar;
  optimizer: Optimizer | tf.Optimizer;
  /** Step number for error messages. Default: the optimizer's iteration count. */
  step?: number;
  /** Clip the global gradient norm to this value (no extra device read). Default: no clipping. */
  maxGradNorm?: number;
}

interface Prepared {
  named: [string, tf.Variable][];
  step: number;
}

function namedParams(params: TrainableParams): [string, tf.Variable][] {
  let entries: [string, tf.Variable][];
  if (params instanceof Module) entries = [...params.namedParameters()];
  else if (params instanceof Map) entries = [...params];
  else if (Array.isArray(params)) entries = params.map((v: tf.Variable) => [v.name, v]);
  else if (typeof params === 'object' && params !== null) entries = Object.entries(params as Record<string, tf.Variable>);
  else throw new ArgumentError('trainStep', 'params', 'must be a Module, a Map or record of variables, or a variable array');
  for (const [name, v] of entries) {
    if (!(v instanceof tf.Variable)) throw new ArgumentError('trainStep', 'params', `entry '${name}' is not a tf.Variable`);
  }
  const seen = new Set<tf.Variable>();
  const trainable = entries.filter(([, v]) => v.trainable && !seen.has(v) && seen.add(v) !== undefined);
  if (trainable.length === 0) throw new ArgumentError('trainStep', 'params', 'holds no trainable variable');
  return trainable;
}

function prepare(config: TrainStepConfig): Prepared {
  if (!gradientsRegistered()) {
    throw new ContrastreamError(
      "trainStep: tfjs-core's gradient functions are not registered; `await registerGradients()` once before training (trainStepAsync does it for you)",
    );
  }
  if (typeof config.lossFn !== 'function') throw new ArgumentError('trainStep', 'lossFn', 'must be a function returning a scalar tensor');
  const opt = config.optimizer;
  if (!(opt instanceof Optimizer) && !(opt instanceof tf.Optimizer)) {
    throw new ArgumentError('trainStep', 'optimizer', 'must be a contrastream Optimizer (sgd, lars, adam) or a tf.train optimizer');
  }
  if (config.maxGradNorm !== undefined && !(config.maxGradNorm > 0)) {
    throw new ArgumentError('trainStep', 'maxGradNorm', `must be > 0, got ${config.maxGradNorm}`);
  }
  return { named: namedParams(config.params), step: config.step ?? opt.iterations };
}

interface Computed {
  value: tf.Scalar;
  grads: ParameterGradient[];
  check: tf.Tensor1D; // [loss, 0·Σ∇ (0 or NaN), ‖∇‖²]
  pending: PendingBufferUpdates;
}

function compute(config: TrainStepConfig, named: [string, tf.Variable][]): Computed {
  const lossFn = (): tf.Scalar => {
    const loss = config.lossFn();
    if (!(loss instanceof tf.Tensor) || loss.rank !== 0) {
      throw new ArgumentError('trainStep', 'lossFn', `must return a scalar tensor, got ${loss instanceof tf.Tensor ? `shape [${loss.shape}]` : typeof loss}`);
    }
    return loss;
  };
  const vars = named.map(([, v]) => v);
  let deferred: ReturnType<typeof deferBufferUpdates<{ value: tf.Scalar; grads: tf.NamedTensorMap }>>;
  try {
    deferred = deferBufferUpdates(() => tf.variableGrads(lossFn, vars));
  } catch (err) {
    disposeOrphanedTape();
    throw err;
  }
  const { result, pending } = deferred;
  const { value, grads } = result;
  const list: ParameterGradient[] = [];
  for (const [name, variable] of named) {
    const g = grads[variable.name];
    if (g != null) list.push({ name, variable, gradient: g });
  }
  try {
    const check = tf.tidy(() => {
      const flags = tf.addN(list.map((p) => tf.sum(tf.mul(p.gradient, 0)))); // 0, or NaN if any ∇ is NaN/Inf
      const sq = config.maxGradNorm === undefined ? tf.scalar(0) : tf.addN(list.map((p) => tf.sum(tf.square(p.gradient))));
      return tf.stack([value, flags, sq]) as tf.Tensor1D;
    });
    return { value, grads: list, check, pending };
  } catch (err) {
    pending.discard();
    value.dispose();
    for (const g of Object.values(grads)) g?.dispose();
    throw err;
  }
}

/**
 * tfjs' engine.gradients leaks the tensors its tape saved for backprop when f throws (they are
 * kept outside any scope and only freed on success). Free them, unless an outer gradient
 * computation still owns the tape.
 */
function disposeOrphanedTape(): void {
  const state = tf.engine().state;
  if (state.gradientDepth !== 0 || state.activeTape == null) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null as unknown as typeof state.activeTape;
}

const HINT_LOSS =
  'Lower the learning rate (or lengthen the warmup), raise the loss temperature if it is small (e.g. 0.05 → 0.2), ' +
  'check the inputs for NaN/Inf, and consider trainStep({ maxGradNorm })';
const HINT_GRAD =
  'A gradient overflowed or divided by zero: normalise with l2Normalize (it has an epsilon), avoid log(0) and sqrt(0) in the loss, ' +
  'lower the learning rate, or clip with trainStep({ maxGradNorm })';

function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

/** Error path only: finds which gradients are not finite (one read per gradient). */
function badGradients(grads: ParameterGradient[]): string {
  const bad: string[] = [];
  for (const p of grads) {
    const s = tf.tidy(() => tf.sum(tf.mul(p.gradient, 0)));
    const v = s.dataSync()[0];
    s.dispose();
    if (!Number.isFinite(v)) bad.push(`'${p.name}'`);
    if (bad.length >= 5) break;
  }
  return bad.length > 0 ? bad.join(', ') : '(unknown)';
}

function finish(config: TrainStepConfig, prep: Prepared, c: Computed, vals: ArrayLike<number>): number {
  const loss = vals[0];
  if (!Number.isFinite(loss)) {
    throw new DivergenceError(prep.step, `the loss is ${describeNonFinite(loss)}${lrNote(config.optimizer)}`, HINT_LOSS);
  }
  if (!Number.isFinite(vals[1]) || (config.maxGradNorm !== undefined && !Number.isFinite(vals[2]))) {
    throw new DivergenceError(prep.step, `the loss is finite (${loss}) but the gradient of ${badGradients(c.grads)} is NaN or Inf${lrNote(config.optimizer)}`, HINT_GRAD);
  }
  let grads = c.grads;
  const scaled: tf.Tensor[] = [];
  if (config.maxGradNorm !== undefined) {
    const norm = Math.sqrt(vals[2]);
    if (norm > config.maxGradNorm) {
      const f = config.maxGradNorm / (norm + 1e-6);
      grads = grads.map((p) => {
        const g = tf.mul(p.gradient, f);
        scaled.push(g);
        return { ...p, gradient: g };
      });
    }
  }
  try {
    const opt = config.optimizer;
    if (opt instanceof Optimizer) opt.applyGradients(grads);
    else opt.applyGradients(Object.fromEntries(grads.map((p) => [p.variable.name, p.gradient])));
  } finally {
    for (const t of scaled) t.dispose();
  }
  c.pending.commit();
  return loss;
}

function lrNote(opt: Optimizer | tf.Optimizer): string {
  if (!(opt instanceof Optimizer)) return '';
  try {
    return ` (learning rate ${opt.learningRate()})`;
  } catch {
    return '';
  }
}

function release(c: Computed | undefined, committed: boolean): void {
  if (c === undefined) return;
  if (!committed && !c.pending.settled) c.pending.discard();
  c.value.dispose();
  for (const p of c.grads) p.gradient.dispose();
  c.check.dispose();
}

/** Runs one step synchronously (one device read) and returns the loss. */
export function trainStep(config: TrainStepConfig): number {
  const prep = prepare(config);
  let c: Computed | undefined;
  let committed = false;
  try {
    c = compute(config, prep.named);
    const loss = finish(config, prep, c, c.check.dataSync());
    committed = true;
    return loss;
  } finally {
    release(c, committed);
  }
}

/** As trainStep, but reads the check values with `await data()` (does not block the thread). */
export async function trainStepAsync(config: TrainStepConfig): Promise<number> {
  await registerGradients();
  const prep = prepare(config);
  let c: Computed | undefined;
  let committed = false;
  try {
    c = compute(config, prep.named);
    const vals = await c.check.data();
    const loss = finish(config, prep, c, vals);
    committed = true;
    return loss;
  } finally {
    release(c, committed);
  }
}
