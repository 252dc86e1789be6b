/**
 * Step decay of the learning rate (InstDisc, MoCo v1 schedules; torch's MultiStepLR/StepLR):
 *   milestones:  lr = baseLr · gamma^(number of milestones m with m ≤ step)
 *   stepSize s:  lr = baseLr · gamma^floor(step / s)
 * `step` is the optimizer iteration (0-based); give exactly one of milestones and stepSize.
 * Default gamma 0.1.
 */
import { ArgumentError } from '../errors.ts';
import type { LearningRateSchedule } from './optimizer.ts';

export interface StepDecayConfig {
  baseLr: number;
  /** Steps at which the rate is multiplied by gamma (ascending). */
  milestones?: readonly number[];
  /** Multiply by gamma every stepSize steps. */
  stepSize?: number;
  /** Default 0.1. */
  gamma?: number;
}

export const DEFAULT_STEP_DECAY_CONFIG = { gamma: 0.1 } as const;

export function stepDecay(config: StepDecayConfig): LearningRateSchedule {
  const fn = 'stepDecay';
  const { baseLr, milestones, stepSize } = config;
  const gamma = config.gamma ?? DEFAULT_STEP_DECAY_CONFIG.gamma;
  if (!(Number.isFinite(baseLr) && baseLr >= 0)) throw new ArgumentError(fn, 'baseLr', `must be a finite number >= 0, got ${baseLr}`);
  if (!(Number.isFinite(gamma) && gamma >= 0)) throw new ArgumentError(fn, 'gamma', `must be a finite number >= 0, got ${gamma}`);
  if ((milestones === undefined) === (stepSize === undefined)) {
    throw new ArgumentError(fn, 'milestones', 'give exactly one of milestones and stepSize');
  }
  if (milestones !== undefined) {
    if (!milestones.every((m, i) => Number.isInteger(m) && m >= 0 && (i === 0 || m > milestones[i - 1]))) {
      throw new ArgumentError(fn, 'milestones', `must be strictly ascending integers >= 0, got [${milestones}]`);
    }
    const ms = [...milestones];
    return (step: number) => baseLr * gamma ** ms.filter((m) => m <= step).length;
  }
  if (!Number.isInteger(stepSize) || (stepSize as number) < 1) throw new ArgumentError(fn, 'stepSize', `must be an integer >= 1, got ${stepSize}`);
  const s = stepSize as number;
  return (step: number) => baseLr * gamma ** Math.floor(step / s);
}
