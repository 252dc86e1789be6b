/**
 * A mid-epoch resume neither repeats nor skips a sample: the (epoch, index) sequence trained
 * by "N steps, stop, resume" equals the straight run's, and covers every sample exactly once
 * per epoch at most (36 samples, batches of 8: 4 per epoch, each epoch's short tail of 4 is
 * dropped). The splits fall mid-epoch, at the end of an epoch (before its dropped tail) and
 * just after an epoch boundary.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { readCheckpoint, latestCheckpoint } from '../../src/run/checkpoint.ts';
import { writeTinyIdx } from '../run/support.ts';
import recording, { seen } from '../run/recordingPipeline.ts';

const sink = { write: () => true } as unknown as NodeJS.WriteStream;
let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-samples-'));
  data = writeTinyIdx(path.join(dir, 'data'), 36, 8, 8);
  if (activeBackend() === undefined) await initBackend({ log: null });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const common = { epochs: 2, workers: 1, stream: sink, monitorEvery: 0, handleSignals: false };

describe('mid-epoch resume', () => {
  it('trains every sample once per epoch, in the straight run order, across a stop and resume', async () => {
    seen.length = 0;
    const straight = await runPipeline(recording, { ...common, data, outDir: path.join(dir, 'straight') });
    const reference = seen.splice(0);
    expect(straight.steps).toBe(8);
    expect(reference.length).toBe(64);
    for (const e of [0, 1]) {
      const idx = reference.filter(([ep]) => ep === e).map(([, i]) => i);
      expect(idx.length).toBe(32);
      expect(new Set(idx).size).toBe(32); // no repeat within an epoch
    }

    // One run folder, stopped three times and resumed each time: mid-epoch, at the end of an
    // epoch (before its dropped tail), just after an epoch boundary. position = plan items
    // before the resume point (epoch 1 starts at 36).
    const runDir = path.join(dir, 'split');
    for (const [stopAt, position] of [[2, 16], [4, 32], [5, 44]]) {
      const part = await runPipeline(recording, stopAt === 2 ? { ...common, data, outDir: runDir, stopAfterStep: stopAt } : { ...common, resumeFrom: runDir, stopAfterStep: stopAt });
      expect(part.interrupted).toBe(true);
      const ck = await readCheckpoint((await latestCheckpoint(runDir)).dir);
      expect([ck.step, ck.samplesConsumed]).toEqual([stopAt, position]);
    }
    const last = await runPipeline(recording, { ...common, resumeFrom: runDir });
    expect(last.steps).toBe(8);
    expect(last.history[0].step).toBe(6);
    expect(seen.splice(0)).toEqual(reference);
  });
});
