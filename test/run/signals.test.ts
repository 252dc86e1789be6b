/**
 * SIGINT / SIGTERM during a run with a run folder: the run checkpoints at the next step
 * boundary and returns `interrupted: true` (a real signal sent to a child process).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { latestCheckpoint, readCheckpoint } from '../../src/run/checkpoint.ts';
import { writeTinyIdx } from './support.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-signal-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runUntilSignal(data: string, runDir: string, signal: NodeJS.Signals): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/run/signalChild.mts'), data, runDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && /step 3\/\d+/.test(out)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('signals', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s: checkpoint at the next step boundary, then interrupted', async (signal) => {
    const data = writeTinyIdx(path.join(dir, 'data'), 32, 8, 8);
    const runDir = path.join(dir, signal);
    const { code, out } = await runUntilSignal(data, runDir, signal);
    expect(code, out).toBe(0);
    const result = JSON.parse(/RESULT (.*)/.exec(out)?.[1] ?? 'null') as { steps: number; interrupted: boolean };
    expect(result.interrupted).toBe(true);
    expect(result.steps).toBeGreaterThanOrEqual(3);
    expect(result.steps).toBeLessThan(800); // stopped long before the 200 epochs
    expect(out).toContain(`${signal}: stopping after the current step`);
    const latest = await latestCheckpoint(runDir);
    expect(latest.step).toBe(result.steps);
    const ck = await readCheckpoint(latest.dir);
    expect(ck.optimizer?.iterations).toBe(result.steps);
  });
});
