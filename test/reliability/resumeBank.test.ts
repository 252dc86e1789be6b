/**
 * Resume with a memory bank (InstDisc): the bank is updated asynchronously after each step, so
 * a checkpoint must pause the step stream and wait for the pending updates. Checkpoints at
 * every step; 4 steps straight == 2 steps, stop, resume for 2 more: same weights, optimizer
 * slots, bank rows, bank PRNG state and NCE normaliser.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MemoryBankState } from '../../src/memory/MemoryBank.ts';

// Pure-wasm kernels, one thread: bit-reproducible arithmetic (as in resume.test.ts).
process.env.CONTRASTREAM_NATIVE = '0';
process.env.CONTRASTREAM_BACKEND = 'wasm';
const { runPipeline } = await import('../../src/pipeline/runPipeline.ts');
const { initBackend, activeBackend } = await import('../../src/backend/initBackend.ts');
const { readCheckpoint, latestCheckpoint } = await import('../../src/run/checkpoint.ts');
const instdisc = (await import('../../pipelines/instdisc.ts')).default;
const { writeTinyIdx, maxCheckpointDifference } = await import('../run/support.ts');

const sink = { write: () => true } as unknown as NodeJS.WriteStream;
let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-resume-bank-'));
  data = writeTinyIdx(path.join(dir, 'data'), 64, 16, 16);
  if (activeBackend() === undefined) await initBackend({ backend: 'wasm', log: null });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface State {
  memoryBank: MemoryBankState;
  nceNormalizer: number | null;
}

describe('resume with a memory bank', () => {
  it('instdisc: 4 steps straight == 2 + 2 with checkpoints at every step', async () => {
    const common = {
      data,
      epochs: 1,
      overrides: { imageSize: 16, batchSize: 16, featureDim: 16, negatives: 16 },
      workers: 1,
      stream: sink,
      monitorEvery: 0,
      handleSignals: false,
      checkpointEvery: 1,
      keepCheckpoints: 0,
    };
    await runPipeline(instdisc, { ...common, outDir: path.join(dir, 'straight') });
    const resumed = path.join(dir, 'resumed');
    expect((await runPipeline(instdisc, { ...common, outDir: resumed, stopAfterStep: 2 })).interrupted).toBe(true);
    const mid = await readCheckpoint(path.join(resumed, 'checkpoints', 'step-2'));
    expect((mid.state as unknown as State).memoryBank.lastStep).toBe(2); // step 2's update is in the step-2 checkpoint, no later one
    await runPipeline(instdisc, { ...common, resumeFrom: resumed });

    const a = await readCheckpoint((await latestCheckpoint(path.join(dir, 'straight'))).dir);
    const b = await readCheckpoint((await latestCheckpoint(resumed)).dir);
    expect([a.step, b.step]).toEqual([4, 4]);
    const d = maxCheckpointDifference(a, b);
    expect(d.weights).toBeLessThan(1e-5);
    expect(d.optimizer).toBeLessThan(1e-5);
    const sa = a.state as unknown as State;
    const sb = b.state as unknown as State;
    expect(sb.memoryBank.lastStep).toBe(4);
    expect(sb.memoryBank.rngState).toBe(sa.memoryBank.rngState);
    expect(sb.memoryBank.rngState).not.toBe((mid.state as unknown as State).memoryBank.rngState);
    expect(sb.nceNormalizer).toBe(sa.nceNormalizer);
    let m = 0;
    sa.memoryBank.rows.forEach((v, i) => (m = Math.max(m, Math.abs(v - sb.memoryBank.rows[i]))));
    expect(m).toBeLessThan(1e-5);
    // and the rows did move between step 2 and step 4
    let moved = 0;
    sa.memoryBank.rows.forEach((v, i) => (moved = Math.max(moved, Math.abs(v - (mid.state as unknown as State).memoryBank.rows[i]))));
    expect(moved).toBeGreaterThan(1e-3);
  });
});
