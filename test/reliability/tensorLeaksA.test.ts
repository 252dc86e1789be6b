/**
 * Issue 7, item 7 (part A: SimCLR, MoCo): tf.memory().numTensors is flat over 100
 * steps, unchanged by an evaluation and by a step that fails half-way, and back to its
 * starting value after dispose. Tiny images (16 px, 1 channel) and models.
 */
import simclr from '../../pipelines/simclr.ts';
import moco from '../../pipelines/moco.ts';
import type { PipelineDefinition } from '../../src/pipeline/PipelineDefinition.ts';
import { describeLeakTests } from './leakHarness.ts';

const cases: [PipelineDefinition<never>, Record<string, unknown>][] = [
  [simclr as never, { headHiddenDim: 32, projectionDim: 16 }],
  [moco as never, { headHiddenDim: 32, projectionDim: 16, queueSize: 64 }],
];

describeLeakTests('A', cases);
