/**
 * Cosine learning-rate decay (Loshchilov & Hutter 2017, SGDR without restarts) after a linear
 * warmup (Goyal et al. 2017), as SimCLR/MoCo v2 train:
 *
 *   step < W:      lr = warmupStartLr + (baseLr − warmupStartLr)·(step + 1)/W
 *   W ≤ step < T:  lr = minLr + (baseLr − minLr)·½(1 + cos(π·(step − W)/(T − W)))
 *   step ≥ T:      lr = minLr
 *
 * `step` is the optimizer iteration (0-based), T = totalSteps, W = warmupSteps.
 * Defaults: warmupSteps 0, minLr 0, warmupStartLr 0.
 */
import { ArgumentError } from '../errors.ts';
import type { LearningRateSchedule } from './optimizer.ts';

export interface CosineWithWarmupConfig {
  baseLr: number;
  totalSteps: number;
  /** Default 0. */
  warmupSteps?: number;
  /** Default 0. */
  minLr?: number;
  /** Default 0. */
  warmupStartLr?: number;
}

export const DEFAULT_COSINE_WITH_WARMUP_CONFIG = { warmupSteps: 0, minLr: 0, warmupStartLr: 0 } as const;

export function cosineWithWarmup(config: CosineWithWarmupConfig): LearningRateSchedule {
  const fn = 'cosineWithWarmup';
  const d = DEFAULT_COSINE_WITH_WARMUP_CONFIG;
  const { baseLr, totalSteps } = config;
  const warmup = config.warmupSteps ?? d.warmupSteps;
  const minLr = config.minLr ?? d.minLr;
  const startLr = config.warmupStartLr ?? d.warmupStartLr;
  for (const [arg, v] of [['baseLr', baseLr], ['minLr', minLr], ['warmupStartLr', startLr]] as const) {
    if (!(Number.isFinite(v) && v >= 0)) throw new ArgumentError(fn, arg, `must be a finite number >= 0, got ${v}`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new ArgumentError(fn, 'totalSteps', `must be an integer >= 1, got ${totalSteps}`);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > totalSteps) {
    throw new ArgumentError(fn, 'warmupSteps', `must be an integer in [0, totalSteps=${totalSteps}], got ${warmup}`);
  }
  return (step: number): number => {
    if (step < warmup) return startLr + ((baseLr - startLr) * (step + 1)) / warmup;
    if (step >= totalSteps) return minLr;
    const progress = (step - warmup) / (totalSteps - warmup);
    return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
