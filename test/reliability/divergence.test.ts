/**
 * Issue 7, item 6: divergence. NaN or Inf in the loss or the gradients stops training with a
 * DivergenceError naming the step and a hint (temperature, learning rate) before the update is
 * applied - so a checkpoint written after the last good step never holds NaN weights. At
 * temperature 0.01 the losses stay finite.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { registerGradients } from '../../src/train/registerGradients.ts';
import { trainStep } from '../../src/train/trainStep.ts';
import { createAugmentPool, type AugmentPool } from '../../src/augment/createAugmentPool.ts';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { sgd } from '../../src/optim/sgd.ts';
import { ntXentLoss } from '../../src/losses/ntXentLoss.ts';
import { infoNceLoss } from '../../src/losses/infoNceLoss.ts';
import { invaSpreadLoss } from '../../src/losses/invaSpreadLoss.ts';
import { DivergenceError } from '../../src/errors.ts';
import simclr from '../../pipelines/simclr.ts';
import type { StepReport } from '../../src/pipeline/PipelineDefinition.ts';
import { syntheticImages } from '../pipelines/support.ts';

let pool: AugmentPool;
beforeAll(async () => {
  if (activeBackend() === undefined) await initBackend({ log: null });
  await registerGradients();
  pool = createAugmentPool({ size: 1 });
});
afterAll(() => pool?.destroy());

function allFinite(vars: tf.Variable[]): boolean {
  return vars.every((v) => (v.dataSync() as Float32Array).every(Number.isFinite));
}

/** SimCLR on tiny synthetic images; a "checkpoint" tap records the weights after every report. */
async function runSimclr(overrides: Record<string, unknown>, epochs: number) {
  const n = 32;
  const { images, labels } = syntheticImages(n, 16, 1);
  const tensors = tf.memory().numTensors;
  const inst = simclr.create({ ...simclr.defaults, imageSize: 16, batchSize: 8, headHiddenDim: 32, projectionDim: 16, warmupEpochs: 0, ...overrides }, {
    source: fromArrays({ images, width: 16, height: 16, channels: 1, labels }, { epochs, shuffle: true, seed: 1 }),
    pool,
    seed: 0,
    dataset: { name: 'synthetic', size: n, height: 16, width: 16, channels: 1, numClasses: 4 },
    stepsPerEpoch: 4,
    totalSteps: 4 * epochs,
  });
  const params = Object.values(inst.modules).flatMap((m) => [...m.namedParameters()].map(([, v]) => v));
  const reports: StepReport[] = [];
  const checkpoints: { step: number; finite: boolean }[] = [];
  const err = await lastValueFrom(
    inst.steps.pipe(
      tap((r) => {
        reports.push(r);
        checkpoints.push({ step: r.step, finite: Number.isFinite(r.loss) && allFinite(params) }); // what a checkpoint would save
      }),
      toArray(),
    ),
  ).then(() => undefined, (e: unknown) => e);
  const weightsFiniteAfter = allFinite(params);
  inst.dispose();
  const tensorsAfter = tf.memory().numTensors; // everything freed, even after a diverged step
  return { err, reports, checkpoints, weightsFiniteAfter, tensorsGrowth: tensorsAfter - tensors };
}

describe('divergence (item 6)', () => {
  it('trainStep: NaN loss, Inf loss and Inf gradients each throw DivergenceError naming the step, with a hint; nothing is applied', () => {
    const w = tf.variable(tf.tensor2d([[0.5, -0.2], [0.1, 0.3]]), true, 'div.w');
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const good = () => tf.sum(tf.square(tf.matMul(x, w))) as tf.Scalar;
    trainStep({ params: [w], lossFn: good, optimizer: opt });
    const before = (w.dataSync() as Float32Array).slice();
    const tensors = tf.memory().numTensors;
    const cases: [string, () => tf.Scalar, RegExp][] = [
      ['NaN loss', () => tf.mul(good(), NaN) as tf.Scalar, /step 1: the loss is NaN .*learning rate 0\.1.*temperature/],
      ['Inf loss', () => tf.neg(tf.log(tf.sub(good(), good()))) as tf.Scalar, /step 1: the loss is \+Inf/],
      ['Inf gradient', () => tf.sum(tf.sqrt(tf.abs(tf.sub(w, w)))) as tf.Scalar, /step 1: the loss is finite .*gradient of 'div\.w' is NaN or Inf.*learning rate/],
    ];
    for (const [what, lossFn, re] of cases) {
      let err: unknown;
      try {
        trainStep({ params: [w], lossFn, optimizer: opt });
      } catch (e) {
        err = e;
      }
      console.log(`[item 6] ${what}: ${(err as Error).name}: ${(err as Error).message.slice(0, 150)}`);
      expect(err).toBeInstanceOf(DivergenceError);
      expect((err as DivergenceError).step).toBe(1);
      expect((err as Error).message).toMatch(re);
      expect(Array.from(w.dataSync())).toEqual(Array.from(before)); // not applied
      expect(opt.iterations).toBe(1);
      expect(tf.memory().numTensors).toBe(tensors); // a failed step frees everything
    }
    tf.dispose([w, x]);
    opt.dispose();
  });

  for (const [what, overrides, hint] of [
    ['learning rate 1e38', { lr: 1e38, weightDecay: 0 }, /learning rate \d[\d.]*e\+3\d/],
    ['temperature 1e-39', { temperature: 1e-39 }, /temperature/],
  ] as const) {
    it(`a pipeline with ${what} stops with DivergenceError before any NaN report or weights`, async () => {
      const r = await runSimclr(overrides, 2);
      const err = r.err as DivergenceError;
      console.log(`[item 6] simclr ${what}: ${r.reports.length} good steps, then ${err?.name}: ${err?.message?.slice(0, 220)}`);
      expect(err).toBeInstanceOf(DivergenceError);
      expect(err.step).toBe(r.reports.length + 1); // names the step that diverged
      expect(err.message).toMatch(hint);
      expect(r.checkpoints.every((c) => c.finite)).toBe(true); // every state a checkpoint could save was finite
      expect(r.weightsFiniteAfter).toBe(true); // the diverged update was not applied
      expect(r.tensorsGrowth).toBe(0);
    });
  }

  it('at temperature 0.01 the losses and their gradients stay finite (losses and a SimCLR run)', async () => {
    const worst: [string, tf.Tensor2D, tf.Tensor2D][] = [];
    const d = 16;
    const same = tf.tidy(() => tf.tile(tf.randomNormal([1, d], 0, 1, 'float32', 3), [8, 1]) as tf.Tensor2D); // all rows identical
    const big = tf.tidy(() => tf.mul(tf.randomNormal([8, d], 0, 1, 'float32', 4), 1e4) as tf.Tensor2D); // huge norms
    const anti = tf.tidy(() => tf.neg(big) as tf.Tensor2D); // positives opposite
    worst.push(['identical rows', same, same], ['huge norms', big, big], ['antipodal positives', big, anti]);
    for (const [what, a, b] of worst) {
      const losses = {
        ntXent: (p: tf.Tensor2D) => ntXentLoss(p, b, { temperature: 0.01 }),
        infoNce: (p: tf.Tensor2D) => infoNceLoss(tf.div(p, tf.norm(p, 2, 1, true)) as tf.Tensor2D, tf.div(b, tf.norm(b, 2, 1, true)) as tf.Tensor2D, tf.div(a, tf.norm(a, 2, 1, true)) as tf.Tensor2D, { temperature: 0.01 }),
        invaSpread: (p: tf.Tensor2D) => invaSpreadLoss(p, b, { temperature: 0.01 }),
      };
      for (const [name, f] of Object.entries(losses)) {
        const v0 = tf.variable(a, true);
        const { value, grads } = tf.variableGrads(() => f(v0 as unknown as tf.Tensor2D) as tf.Scalar, [v0]);
        v0.dispose();
        const v = value.dataSync()[0];
        const gFinite = Object.values(grads).every((g) => (g.dataSync() as Float32Array).every(Number.isFinite));
        tf.dispose([value, ...Object.values(grads)]);
        expect(Number.isFinite(v), `${name} on ${what}: loss ${v}`).toBe(true);
        expect(gFinite, `${name} on ${what}: gradient`).toBe(true);
      }
    }
    tf.dispose([same, big, anti]);
    const r = await runSimclr({ temperature: 0.01, lr: 0.3 }, 4);
    console.log(`[item 6] simclr at temperature 0.01: ${r.reports.length} steps, losses ${r.reports.map((x) => x.loss.toFixed(2)).join(', ')}`);
    expect(r.err).toBeUndefined();
    expect(r.reports.length).toBe(16);
    expect(r.reports.every((x) => Number.isFinite(x.loss))).toBe(true);
    expect(r.weightsFiniteAfter).toBe(true);
  });
});
