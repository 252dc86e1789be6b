import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import simclr from '../../pipelines/simclr.ts';
import { smokeRun, lossTrend } from './support.ts';

describe('pipelines/simclr', () => {
  it('trains a few steps: finite, decreasing loss, no tensor leak', async () => {
    const r = await smokeRun(simclr, { overrides: { headHiddenDim: 64, projectionDim: 32, lr: 0.5, warmupEpochs: 0 } });
    expect(r.reports.length).toBe(24);
    for (const s of r.reports) expect(Number.isFinite(s.loss)).toBe(true);
    const { first, last } = lossTrend(r.reports);
    expect(last).toBeLessThan(first);
    expect(r.featureShape).toEqual([4, 128]);
    // after dispose nothing of the pipeline remains
    expect(tf.memory().numTensors).toBe(r.before);
    expect(r.tensorsAfterEval).toBe(r.tensorsAfterFirstEpoch);
  });
});
