import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { tap } from 'rxjs';
import moco, { type MocoConfig, type ResolvedMoco } from '../../pipelines/moco.ts';
import type { KeyQueueState } from '../../src/memory/KeyQueue.ts';
import type { PipelineDefinition, PipelineInstance } from '../../src/pipeline/PipelineDefinition.ts';
import type { Module } from '../../src/models/module.ts';
import { smokeRun, lossTrend } from './support.ts';

type Weights = Map<string, Float32Array>;

/** Parameters of a query or key network, by dotted name ('encoder.conv1.weight', 'head.weight'). */
function read(inst: PipelineInstance, side: 'query' | 'key'): Weights {
  const parts: [string, Module][] = side === 'query' ? [['encoder', inst.modules.encoder], ['head', inst.modules.head]] : [['encoder', inst.modules.keyEncoder], ['head', inst.modules.keyHead]];
  const out: Weights = new Map();
  for (const [prefix, m] of parts) for (const [n, v] of m.namedParameters()) out.set(`${prefix}.${n}`, (v.dataSync() as Float32Array).slice());
  return out;
}

interface StepCheck {
  /** max |theta_k(t) - (m theta_k(t-1) + (1 - m) theta_q(t))| over all parameters */
  emaError: number;
  /** max |theta_k(t) - theta_q(t)| */
  gap: number;
  queue: KeyQueueState;
}

interface Seen {
  initialGap?: number;
  resolved?: ResolvedMoco;
  queue0?: KeyQueueState;
  steps: StepCheck[];
}

function maxAbs(a: Weights, f: (name: string, i: number) => number): number {
  let m = 0;
  for (const [name, v] of a) for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i] - f(name, i)));
  return m;
}

/** The pipeline, with a tap that checks the key encoder and the queue after every step. */
function observed(seen: Seen): PipelineDefinition<MocoConfig> {
  return {
    ...moco,
    create(config, ctx) {
      const inst = moco.create(config, ctx);
      const m = config.keyMomentum;
      let prevKey = read(inst, 'key');
      const q0 = read(inst, 'query');
      seen.initialGap = maxAbs(prevKey, (n, i) => (q0.get(n) as Float32Array)[i]);
      const s0 = inst.state?.() as { queue: KeyQueueState; resolved: ResolvedMoco };
      seen.queue0 = s0.queue;
      seen.resolved = s0.resolved;
      return {
        ...inst,
        steps: inst.steps.pipe(
          tap(() => {
            const key = read(inst, 'key');
            const q = read(inst, 'query');
            const emaError = maxAbs(key, (n, i) => m * (prevKey.get(n) as Float32Array)[i] + (1 - m) * (q.get(n) as Float32Array)[i]);
            const gap = maxAbs(key, (n, i) => (q.get(n) as Float32Array)[i]);
            seen.steps.push({ emaError, gap, queue: (inst.state?.() as { queue: KeyQueueState }).queue });
            prevKey = key;
          }),
        ),
      };
    },
  };
}

/** Checks the FIFO queue: after step t the B rows at the previous pointer hold step t's keys. */
function checkQueue(seen: Seen, b: number) {
  const k = seen.resolved!.queueSize;
  let prev = seen.queue0!;
  expect(prev.pointer).toBe(0);
  expect(prev.lastStep).toBe(-1);
  seen.steps.forEach(({ queue }, i) => {
    const step = i + 1;
    expect(queue.size).toBe(k);
    expect(queue.lastStep).toBe(step);
    expect(queue.pointer).toBe((prev.pointer + b) % k); // advanced exactly B entries
    let written = 0;
    for (let r = 0; r < k; r++) {
      const inBlock = r >= prev.pointer && r < prev.pointer + b;
      if (inBlock) expect(queue.steps[r]).toBe(step);
      else expect(queue.steps[r]).toBe(prev.steps[r]); // every other entry untouched
      if (queue.steps[r] === step) written++;
    }
    expect(written).toBe(b);
    // keys are unit vectors; the other rows kept their values
    for (let r = prev.pointer; r < prev.pointer + b; r++) {
      let ss = 0;
      for (let c = 0; c < queue.dim; c++) ss += queue.keys[r * queue.dim + c] ** 2;
      expect(Math.sqrt(ss)).toBeCloseTo(1, 4);
    }
    const other = (prev.pointer + b) % k;
    expect(queue.keys.subarray(other * queue.dim, (other + b) * queue.dim)).toEqual(prev.keys.subarray(other * queue.dim, (other + b) * queue.dim));
    prev = queue;
  });
}

describe('pipelines/moco', () => {
  for (const version of [2, 1] as const) {
    it(`v${version}: finite, decreasing loss, no leak; key encoder follows the EMA; queue advances B per step`, async () => {
      const seen: Seen = { steps: [] };
      const b = 16;
      const r = await smokeRun(observed(seen), {
        epochs: version === 2 ? 5 : 4,
        batchSize: b,
        overrides: { version, lr: 0.5, warmupEpochs: 0, headHiddenDim: 64, ...(version === 1 ? { keyMomentum: 0.9, shuffleBnGroups: 2 } : {}) },
      });
      const steps = r.reports.length;
      expect(steps).toBe(version === 2 ? 20 : 16);
      for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
      // 64 images, B = 16: K capped at n - B = 48, i.e. 3 batches.
      expect(seen.resolved).toMatchObject({ queueSize: 48, temperature: version === 2 ? 0.2 : 0.07, mlpHead: version === 2 });
      // The loss is comparable only once the queue holds real keys (its initial keys are random
      // unit vectors, easy negatives): compare the steps right after it filled with the last ones.
      const fill = 48 / b;
      const { first, last } = lossTrend(r.reports.slice(fill), 3);
      expect(last).toBeLessThan(first);
      expect(r.featureShape).toEqual([4, 128]);
      expect(tf.memory().numTensors).toBe(r.before);
      expect(r.tensorsAfterEval).toBe(r.tensorsAfterFirstEpoch);

      // theta_k = theta_q at start, then theta_k <- m theta_k + (1 - m) theta_q after every step.
      expect(seen.initialGap).toBe(0);
      expect(seen.steps.length).toBe(steps);
      for (const s of seen.steps) expect(s.emaError).toBeLessThan(1e-5);
      expect(seen.steps.at(-1)!.gap).toBeGreaterThan(1e-3); // the key encoder lags the query encoder
      checkQueue(seen, b);
    });
  }

  it('rejects a queue size that is not a multiple of the batch size', () => {
    expect(() => moco.create({ ...moco.defaults, batchSize: 16, queueSize: 40 }, { dataset: { size: 64 } } as never)).toThrow(/multiple of batchSize 16/);
  });
});
