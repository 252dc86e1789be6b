/**
 * Shared by the tensor-leak tests (item 7): runs a pipeline definition for 100 steps on tiny
 * synthetic data and records `tf.memory().numTensors` at every step, after an evaluation,
 * after a step that fails half-way (the optimizer throws after the gradients exist) and after
 * dispose.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { registerGradients } from '../../src/train/registerGradients.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import type { PipelineDefinition, PipelineInstance } from '../../src/pipeline/PipelineDefinition.ts';
import { syntheticImages } from '../pipelines/support.ts';

export interface LeakReport {
  name: string;
  /** Tensors before the pipeline was created. */
  before: number;
  /** numTensors seen by a tap after each step (includes the step's batch tensors). */
  atStep: Map<number, number>;
  /** After the 100-step run completed (batches released), before eval and dispose. */
  afterRun: number;
  afterEval: number;
  /** Count in the tap of the last good step, and once the stream errored (compare with afterRun). */
  beforeFailedStep: number;
  afterFailedStep: number;
  failedWith: string;
  /** After dispose() of both instances: must equal `before`. */
  afterDispose: number;
  steps: number;
  ms: number;
}

const N = 32;
const B = 8;
const SIZE = 16;

export async function measureLeaks<C extends object>(def: PipelineDefinition<C>, overrides: Record<string, unknown>, pool: AugmentPool, steps = 100): Promise<LeakReport> {
  const { images, labels } = syntheticImages(N, SIZE, 1);
  const stepsPerEpoch = N / B;
  const epochs = Math.ceil(steps / stepsPerEpoch);
  const make = (): PipelineInstance =>
    def.create({ ...def.defaults, imageSize: SIZE, batchSize: B, warmupEpochs: 0, ...overrides } as C, {
      source: fromArrays({ images, width: SIZE, height: SIZE, channels: 1, labels }, { epochs, shuffle: true, seed: 3 }),
      pool,
      seed: 0,
      dataset: { name: 'synthetic', size: N, height: SIZE, width: SIZE, channels: 1, numClasses: 4 },
      stepsPerEpoch,
      totalSteps: stepsPerEpoch * epochs,
    });
  const t0 = performance.now();
  const before = tf.memory().numTensors;
  const atStep = new Map<number, number>();
  const inst = make();
  let afterEval = -1;
  let afterRun = -1;
  let n = 0;
  try {
    const reports = await lastValueFrom(inst.steps.pipe(tap((r) => atStep.set(r.step, tf.memory().numTensors)), toArray()));
    n = reports.length;
    afterRun = tf.memory().numTensors;
    const evalBefore = tf.memory().numTensors;
    const x = tf.randomUniform([4, SIZE, SIZE, 1]) as tf.Tensor4D;
    tf.dispose(inst.features(x));
    x.dispose();
    afterEval = tf.memory().numTensors - evalBefore;
  } finally {
    inst.dispose();
  }
  // a step that fails after its gradients were computed (the optimizer throws at step 6)
  const inst2 = make();
  let beforeFailedStep = -1;
  let afterFailedStep = -1;
  let failedWith = '';
  try {
    const opt = inst2.optimizer as unknown as { applyGradients: (...a: unknown[]) => unknown };
    const apply = opt.applyGradients.bind(opt);
    let calls = 0;
    opt.applyGradients = (...a: unknown[]) => {
      if (++calls === 6) throw new Error('injected optimizer failure at step 6');
      return apply(...a);
    };
    const err = await lastValueFrom(inst2.steps.pipe(tap(() => (beforeFailedStep = tf.memory().numTensors)), toArray())).then(
      () => undefined,
      (e: unknown) => e,
    );
    failedWith = err instanceof Error ? err.message : String(err);
    afterFailedStep = tf.memory().numTensors;
  } finally {
    inst2.dispose();
  }
  return { name: def.name, before, atStep, afterRun, afterEval, beforeFailedStep, afterFailedStep, failedWith, afterDispose: tf.memory().numTensors, steps: n, ms: performance.now() - t0 };
}

export async function setup(): Promise<AugmentPool> {
  if (activeBackend() === undefined) await initBackend({ log: null });
  await registerGradients();
  return createAugmentPool({ size: 1 });
}

export function describeReport(r: LeakReport): string {
  return `[item 7] ${r.name}: ${r.steps} steps in ${(r.ms / 1000).toFixed(1)} s; numTensors before ${r.before}, step 1 ${r.atStep.get(1)}, step 100 ${r.atStep.get(100)}, after the run ${r.afterRun}, eval delta ${r.afterEval}, after a failed step ${r.afterFailedStep}, after dispose ${r.afterDispose}`;
}

/**
 * The leak tests of one part (a file per part, so that the parts run in parallel): for each
 * [pipeline, config overrides], numTensors flat over 100 steps (step 1 = step 50 = step 100),
 * nothing left by an evaluation, a failed step frees its batch, tape and gradients, and
 * dispose returns to the starting count.
 */
export function describeLeakTests(part: string, cases: [PipelineDefinition<never>, Record<string, unknown>][]): void {
  let pool: AugmentPool;
  beforeAll(async () => {
    pool = await setup();
  });
  afterAll(() => pool?.destroy());

  describe(`tensor leaks (item 7, part ${part})`, () => {
    for (const [def, overrides] of cases) {
      it(`${def.name}: flat over 100 steps, after eval, after a failed step; all freed by dispose`, async () => {
        const r = await measureLeaks(def, overrides, pool);
        console.log(describeReport(r));
        expect(r.steps).toBe(100);
        expect(r.atStep.get(100)).toBe(r.atStep.get(1));
        expect(r.atStep.get(50)).toBe(r.atStep.get(1));
        expect(r.afterEval).toBe(0);
        expect(r.failedWith).toMatch(/injected optimizer failure/);
        expect(r.beforeFailedStep).toBeGreaterThan(0); // five good steps ran first
        expect(r.afterFailedStep).toBe(r.afterRun); // the failed step freed its batch, tape and gradients
        expect(r.afterDispose).toBe(r.before);
      });
    }
  });
}
