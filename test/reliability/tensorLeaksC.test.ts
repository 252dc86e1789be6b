/**
 * Issue 7, item 7 (part C: CMC, CPC): tf.memory().numTensors is flat over 100
 * steps, unchanged by an evaluation and by a step that fails half-way, and back to its
 * starting value after dispose. Tiny images (16 px, 1 channel) and models.
 */
import cmc from '../../pipelines/cmc.ts';
import cpc from '../../pipelines/cpc.ts';
import type { PipelineDefinition } from '../../src/pipeline/PipelineDefinition.ts';
import { describeLeakTests } from './leakHarness.ts';

const cases: [PipelineDefinition<never>, Record<string, unknown>][] = [
  [cmc as never, { featureDim: 16, negatives: 32 }],
  [cpc as never, { contextDim: 16 }],
];

describeLeakTests('C', cases);
