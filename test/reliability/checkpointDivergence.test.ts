/**
 * A diverged step (NaN loss) ends the run with DivergenceError before any checkpoint of it is
 * written; the run resumes from the last good checkpoint; save/restore leaves
 * tf.memory().numTensors flat; metrics.jsonl holds each step once after the resume.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { latestCheckpoint, listCheckpoints } from '../../src/run/checkpoint.ts';
import { DivergenceError } from '../../src/errors.ts';
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { writeTinyIdx } from '../run/support.ts';
import recording from '../run/recordingPipeline.ts';

const sink = { write: () => true } as unknown as NodeJS.WriteStream;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-diverge-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runs and checkpoints', () => {
  it('a diverged step (NaN) ends the run with DivergenceError and no checkpoint of it; save/restore keeps tensors flat', async () => {
    if (activeBackend() === undefined) await initBackend({ log: null });
    const data = writeTinyIdx(path.join(dir, 'data'), 32, 8, 8);
    const runDir = path.join(dir, 'diverge');
    const before = tf.memory().numTensors;
    const err = await runPipeline(recording, {
      data,
      epochs: 2,
      overrides: { nanAtStep: 4 },
      outDir: runDir,
      checkpointEvery: 1,
      keepCheckpoints: 0,
      workers: 1,
      stream: sink,
      monitorEvery: 0,
      handleSignals: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergenceError);
    expect((await listCheckpoints(runDir)).map((c) => c.step)).toEqual([1, 2, 3]);
    expect((await latestCheckpoint(runDir)).step).toBe(3);
    expect(existsSync(path.join(runDir, 'weights'))).toBe(false);
    expect(tf.memory().numTensors).toBe(before);

    // A resumed run restores weights and optimizer slots (tensors created and freed), and can go on.
    const r = await runPipeline(recording, { resumeFrom: runDir, overrides: { nanAtStep: 0 }, workers: 1, stream: sink, handleSignals: false });
    expect(r.steps).toBe(8);
    expect(r.history[0].step).toBe(4);
    expect(tf.memory().numTensors).toBe(before);
    const metrics = readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    expect(metrics.filter((m) => m.type === 'step').map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(metrics.at(-1)?.type).toBe('final');
  });
});
