/**
 * Loads weights written by saveWeights (or any tfjs model.json + .bin folder) into a module.
 *
 * Every name, shape and dtype is checked before any variable changes, so a failed load
 * leaves the module as it was. With `strict` (default) the folder must hold exactly the
 * module's weights; otherwise only the names present in both are loaded. With `optimizer`,
 * the optimizer state saved alongside is restored too. Returns the user metadata.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WeightsMismatchError } from '../errors.ts';
import type { Module } from './module.ts';
import type { Optimizer, OptimizerState } from '../optim/optimizer.ts';
import { fileSystemIO } from './fileSystemIO.ts';
import { OPTIMIZER_PREFIX, type CheckpointInfo } from './saveWeights.ts';

export interface LoadWeightsConfig {
  /** Require the folder's weights to match the module's exactly. Default true. */
  strict?: boolean;
  /** Restore this optimizer's state from the checkpoint (error if it has none). */
  optimizer?: Optimizer;
}

export const DEFAULT_LOAD_WEIGHTS_CONFIG = { strict: true } as const;

function list(names: string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 8).join(', ')} … (${names.length} in all)`;
}

export async function loadWeights(module: Module, dir: string, config: LoadWeightsConfig = {}): Promise<Record<string, unknown>> {
  const strict = config.strict ?? DEFAULT_LOAD_WEIGHTS_CONFIG.strict;
  const artifacts = await fileSystemIO(dir).load!();
  const decoded = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), artifacts.weightSpecs ?? []);
  try {
    const meta = { ...(artifacts.userDefinedMetadata ?? {}) };
    const info = meta.contrastream as CheckpointInfo | undefined;
    delete meta.contrastream;

    const targets = module.namedWeights();
    const saved = Object.keys(decoded).filter((n) => !n.startsWith(OPTIMIZER_PREFIX));
    const missing = [...targets.keys()].filter((n) => !(n in decoded));
    const unexpected = saved.filter((n) => !targets.has(n));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      throw new WeightsMismatchError(
        `loadWeights: '${dir}' does not fit ${module.constructor.name}` +
          (missing.length > 0 ? `; missing: ${list(missing)}` : '') +
          (unexpected.length > 0 ? `; unexpected: ${list(unexpected)}` : '') +
          '. Build the module with the configuration it was saved with, or pass { strict: false } to load the common names.',
      );
    }
    const pairs: [tf.Variable, tf.Tensor][] = [];
    const wrong: string[] = [];
    for (const [name, v] of targets) {
      const t = decoded[name];
      if (t === undefined) continue;
      if (t.dtype !== v.dtype || !tf.util.arraysEqual(t.shape, v.shape)) {
        wrong.push(`${name}: saved ${t.dtype}[${t.shape}], module ${v.dtype}[${v.shape}]`);
      } else pairs.push([v, t]);
    }
    if (wrong.length > 0) throw new WeightsMismatchError(`loadWeights: '${dir}' has weights of the wrong shape or dtype: ${list(wrong)}`);

    let optimizerState: OptimizerState | undefined;
    if (config.optimizer !== undefined) {
      if (info?.optimizer === undefined) {
        throw new WeightsMismatchError(`loadWeights: '${dir}' has no optimizer state; it was saved without { optimizer }`);
      }
      optimizerState = { kind: info.optimizer.kind, iterations: info.optimizer.iterations, slots: {} };
      for (const [name, t] of Object.entries(decoded)) {
        if (!name.startsWith(OPTIMIZER_PREFIX)) continue;
        const rest = name.slice(OPTIMIZER_PREFIX.length);
        const cut = rest.lastIndexOf('/');
        const param = rest.slice(0, cut);
        const slot = rest.slice(cut + 1);
        (optimizerState.slots[param] ??= {})[slot] = { shape: [...t.shape], values: Float32Array.from(t.dataSync() as Float32Array) };
      }
      config.optimizer.setState(optimizerState); // validates before anything else changes
    }
    for (const [v, t] of pairs) v.assign(t);
    return meta;
  } finally {
    for (const t of Object.values(decoded)) t.dispose();
  }
}
