/**
 * Issue 7, item 7 (part C: CMC, CPC): tf.memory().numTensors is flat over 100
 * steps, unchanged by an evaluation and by a step that fails half-way, and back to its
 * starting value after dispose. Tiny images (16 px, 1 channel) and models.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import cmc from '../../pipelines/cmc.ts';
import cpc from '../../pipelines/cpc.ts';
import type { AugmentPool } from '../../src/augment/createAugmentPool.ts';
import type { PipelineDefinition } from '../../src/pipeline/PipelineDefinition.ts';
import { measureLeaks, setup, describeReport } from './leakHarness.ts';

let pool: AugmentPool;
beforeAll(async () => {
  pool = await setup();
});
afterAll(() => pool?.destroy());

const cases: [PipelineDefinition<never>, Record<string, unknown>][] = [
  [cmc as never, { featureDim: 16, negatives: 32 }],
  [cpc as never, { contextDim: 16 }],
];

describe('tensor leaks (item 7, part C)', () => {
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
