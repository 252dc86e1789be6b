/**
 * Linear projection head (InstDisc / MoCo v1 / CPC): z = h·W + b, [N, inDim] → [N, outDim].
 * A `Linear` under the name the methods use. Defaults: bias true, seed 0.
 */
import { Linear } from './linear.ts';

export interface LinearProjectionConfig {
  inDim: number;
  outDim: number;
  /** Default true. */
  bias?: boolean;
  /** Default 0. */
  seed?: number;
}

export const DEFAULT_LINEAR_PROJECTION_CONFIG = { bias: true, seed: 0 } as const;

export function linearProjection(config: LinearProjectionConfig): Linear {
  return new Linear({
    inFeatures: config.inDim,
    outFeatures: config.outDim,
    bias: config.bias ?? DEFAULT_LINEAR_PROJECTION_CONFIG.bias,
    seed: config.seed ?? DEFAULT_LINEAR_PROJECTION_CONFIG.seed,
  });
}
