/**
 * Resume continues exactly (issue 6 item 4): a run of 2N steps straight and a run of N steps,
 * interrupted, then resumed in a NEW process for the other N, end with the same weights,
 * optimizer state and pipeline state (MoCo: queue, momentum encoder, the shuffling-BN RNG).
 * N = 2 of a 4-step epoch, so the resume starts mid-epoch. Pure-wasm kernels (one thread) on
 * both sides, so the comparison is bit-for-bit up to float tolerance.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

process.env.CONTRASTREAM_NATIVE = '0';
process.env.CONTRASTREAM_BACKEND = 'wasm';

const { initBackend, activeBackend } = await import('../../src/backend/initBackend.ts');
const { runPipeline } = await import('../../src/pipeline/runPipeline.ts');
const { readCheckpoint, latestCheckpoint } = await import('../../src/run/checkpoint.ts');
const { writeTinyIdx, maxCheckpointDifference } = await import('../run/support.ts');
const moco = (await import('../../pipelines/moco.ts')).default;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sink = { write: () => true } as unknown as NodeJS.WriteStream;
const overrides = { imageSize: 16, batchSize: 8, queueSize: 16, shuffleBnGroups: 2, headHiddenDim: 32, projectionDim: 16, warmupEpochs: 0.5 };

let dir: string;
let data: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-resume-'));
  data = writeTinyIdx(path.join(dir, 'data'), 32, 16, 16);
  if (activeBackend() === undefined) await initBackend({ backend: 'wasm', log: null });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function flatState(s: unknown, out: number[] = []): number[] {
  if (s instanceof Float32Array || s instanceof Int32Array) for (const v of s) out.push(v);
  else if (Array.isArray(s)) for (const v of s) flatState(v, out);
  else if (s !== null && typeof s === 'object') for (const k of Object.keys(s).sort()) flatState((s as Record<string, unknown>)[k], out);
  else if (typeof s === 'number') out.push(s);
  return out;
}

describe('resume in a new process', () => {
  it('2N steps straight == N steps, interrupt, N more steps in a new process (moco: queue, momentum encoder, RNG)', async () => {
    const common = { data, epochs: 1, overrides, workers: 1, stream: sink, monitorEvery: 0, handleSignals: false, keepCheckpoints: 0 };
    const straight = await runPipeline(moco, { ...common, outDir: path.join(dir, 'straight') });
    expect(straight.steps).toBe(4);
    const before = tf.memory().numTensors;
    const half = await runPipeline(moco, { ...common, outDir: path.join(dir, 'resumed'), stopAfterStep: 2 });
    expect(half.interrupted).toBe(true);
    expect(half.steps).toBe(2);
    expect(tf.memory().numTensors).toBe(before); // nothing of the run stays alive
    expect((await latestCheckpoint(path.join(dir, 'resumed'))).step).toBe(2);

    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/run/resumeChild.mts'), path.join(dir, 'resumed')], {
      cwd: ROOT,
      env: { ...process.env, CONTRASTREAM_NATIVE: '0', CONTRASTREAM_BACKEND: 'wasm' },
      encoding: 'utf8',
      timeout: 40_000,
    });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1) as string)).toEqual({ steps: 4, interrupted: false });

    const a = await readCheckpoint((await latestCheckpoint(path.join(dir, 'straight'))).dir);
    const b = await readCheckpoint((await latestCheckpoint(path.join(dir, 'resumed'))).dir);
    const mid = await readCheckpoint(path.join(dir, 'resumed', 'checkpoints', 'step-2'));
    expect([a.step, b.step, a.samplesConsumed, b.samplesConsumed]).toEqual([4, 4, 32, 32]);
    expect(a.optimizer?.iterations).toBe(4);
    expect(b.optimizer?.iterations).toBe(4);
    const d = maxCheckpointDifference(a, b);
    expect(d.compared).toBeGreaterThan(10_000);
    expect(d.weights).toBeLessThan(1e-5);
    expect(d.optimizer).toBeLessThan(1e-5);
    // The comparison can fail: two more steps do change the weights.
    expect(maxCheckpointDifference(a, mid).weights).toBeGreaterThan(1e-4);
    // Pipeline state: queue keys and entry steps, momentum-encoder parameters and count, RNG.
    const sa = flatState(a.state);
    const sb = flatState(b.state);
    expect(sa.length).toBe(sb.length);
    expect(sa.length).toBeGreaterThan(16 * 16);
    let m = 0;
    for (let i = 0; i < sa.length; i++) m = Math.max(m, Math.abs(sa[i] - sb[i]));
    expect(m).toBeLessThan(1e-5);
    expect((a.state as { shuffleRng: number }).shuffleRng).toBe((b.state as { shuffleRng: number }).shuffleRng);
    expect((a.state as { shuffleRng: number }).shuffleRng).not.toBe((mid.state as { shuffleRng: number }).shuffleRng);
  });
});
