/**
 * Issue 7, item 7 (part B: InvaSpread, InstDisc): tf.memory().numTensors is flat over 100
 * steps, unchanged by an evaluation and by a step that fails half-way, and back to its
 * starting value after dispose. Tiny images (16 px, 1 channel) and models.
 */
import invaspread from '../../pipelines/invaspread.ts';
import instdisc from '../../pipelines/instdisc.ts';
import type { PipelineDefinition } from '../../src/pipeline/PipelineDefinition.ts';
import { describeLeakTests } from './leakHarness.ts';

const cases: [PipelineDefinition<never>, Record<string, unknown>][] = [
  [invaspread as never, { featureDim: 16 }],
  [instdisc as never, { featureDim: 16, negatives: 32 }],
];

describeLeakTests('B', cases);
