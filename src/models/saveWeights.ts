/**
 * Saves a module's weights (parameters and buffers, by dotted name) to a folder through
 * fileSystemIO: model.json + one .bin, written atomically. Works on every backend.
 *
 * With `optimizer`, its state (iteration count and slot tensors such as momentum buffers) is
 * saved too, as weights named `optimizer/<parameter>/<slot>`, so the folder is a complete
 * training checkpoint. `metadata` (JSON) lands in model.json's userDefinedMetadata.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';
import type { Module } from './module.ts';
import type { Optimizer } from '../optim/optimizer.ts';
import { fileSystemIO } from './fileSystemIO.ts';

export interface SaveWeightsConfig {
  /** JSON-serialisable data stored with the weights (e.g. step, config). The key `contrastream` is reserved. */
  metadata?: Record<string, unknown>;
  /** Also save this optimizer's state. */
  optimizer?: Optimizer;
}

/** Prefix of optimizer slot tensors inside a checkpoint. */
export const OPTIMIZER_PREFIX = 'optimizer/';

/** What saveWeights records about itself in userDefinedMetadata.contrastream. */
export interface CheckpointInfo {
  module: string;
  optimizer?: { kind: string; iterations: number };
}

export async function saveWeights(module: Module, dir: string, config: SaveWeightsConfig = {}): Promise<tf.io.SaveResult> {
  if (config.metadata !== undefined && 'contrastream' in config.metadata) {
    throw new ArgumentError('saveWeights', 'metadata', "must not use the reserved key 'contrastream'");
  }
  const named: { name: string; tensor: tf.Tensor }[] = [...module.namedWeights()].map(([name, tensor]) => ({ name, tensor }));
  const temporary: tf.Tensor[] = [];
  const info: CheckpointInfo = { module: module.constructor.name };
  try {
    if (config.optimizer !== undefined) {
      const state = config.optimizer.getState();
      info.optimizer = { kind: state.kind, iterations: state.iterations };
      for (const [param, slots] of Object.entries(state.slots)) {
        for (const [slot, s] of Object.entries(slots)) {
          const t = tf.tensor(s.values, s.shape, 'float32');
          temporary.push(t);
          named.push({ name: `${OPTIMIZER_PREFIX}${param}/${slot}`, tensor: t });
        }
      }
    }
    const { data, specs } = await tf.io.encodeWeights(named);
    return await fileSystemIO(dir).save!({
      format: 'contrastream-weights',
      generatedBy: 'contrastream',
      convertedBy: null,
      weightSpecs: specs,
      weightData: data,
      userDefinedMetadata: { ...(config.metadata ?? {}), contrastream: info as unknown as Record<string, unknown> },
    });
  } finally {
    for (const t of temporary) t.dispose();
  }
}
