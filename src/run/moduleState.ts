/**
 * Copies module weights (parameters and buffers) to and from checkpoint data.
 *
 * `snapshotModules` downloads every weight (one dataSync each) into typed arrays the caller
 * owns; `restoreModules` checks every name, shape and dtype first, then assigns, so a failed
 * restore leaves the modules as they were. Neither keeps a tensor alive.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors.ts';
import type { Module } from '../models/module.ts';
import type { TensorData } from './checkpoint.ts';

export function snapshotModules(modules: Record<string, Module>): Record<string, Record<string, TensorData>> {
  const out: Record<string, Record<string, TensorData>> = {};
  for (const [m, module] of Object.entries(modules)) {
    const weights: Record<string, TensorData> = {};
    for (const [name, v] of module.namedWeights()) {
      const data = v.dataSync();
      const values = v.dtype === 'int32' ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
      weights[name] = { shape: [...v.shape], values };
    }
    out[m] = weights;
  }
  return out;
}

function list(names: string[]): string {
  return names.length <= 6 ? names.join(', ') : `${names.slice(0, 6).join(', ')} … (${names.length} in all)`;
}

/** Assigns `saved` to the modules' weights; `file` names the checkpoint in errors. */
export function restoreModules(modules: Record<string, Module>, saved: Record<string, Record<string, TensorData>>, file: string): void {
  const pairs: [tf.Variable, TensorData][] = [];
  const problems: string[] = [];
  const missingModules = Object.keys(modules).filter((m) => !(m in saved));
  const extraModules = Object.keys(saved).filter((m) => !(m in modules));
  if (missingModules.length > 0 || extraModules.length > 0) {
    throw new CheckpointError(
      file,
      `does not fit this pipeline: ${missingModules.length > 0 ? `modules missing from the checkpoint: ${list(missingModules)}` : ''}` +
        `${extraModules.length > 0 ? `${missingModules.length > 0 ? '; ' : ''}modules the pipeline does not have: ${list(extraModules)}` : ''}. ` +
        'Resume with the configuration the run was started with.',
    );
  }
  for (const [m, module] of Object.entries(modules)) {
    const weights = saved[m];
    const targets = module.namedWeights();
    for (const [name, v] of targets) {
      const t = weights[name];
      if (t === undefined) problems.push(`${m}.${name} missing`);
      else if (!tf.util.arraysEqual(t.shape, v.shape) || (v.dtype === 'int32') !== t.values instanceof Int32Array) {
        problems.push(`${m}.${name}: saved [${t.shape}], module ${v.dtype}[${v.shape}]`);
      } else pairs.push([v, t]);
    }
    for (const name of Object.keys(weights)) if (!targets.has(name)) problems.push(`${m}.${name} unexpected`);
  }
  if (problems.length > 0) {
    throw new CheckpointError(file, `does not fit this pipeline's modules (${list(problems)}). Resume with the configuration the run was started with.`);
  }
  tf.tidy(() => {
    for (const [v, t] of pairs) v.assign(tf.tensor(t.values, t.shape, v.dtype));
  });
}
