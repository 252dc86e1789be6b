/**
 * Checkpoint reliability (issue 7 item 8):
 * - a process SIGKILLed during a save leaves the previous checkpoint loadable and no partial
 *   checkpoint visible (temporary folders are hidden, and removed by the next save);
 * - a crash between the complete temporary folder and its rename changes nothing visible;
 * - truncated or corrupt checkpoint files are CheckpointErrors naming the file;
 * - an empty run folder says "no checkpoint" (also through runPipeline's resume);
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeCheckpoint, readCheckpoint, latestCheckpoint, listCheckpoints, type Checkpoint } from '../../src/run/checkpoint.ts';
import { CheckpointError, NoCheckpointError } from '../../src/errors.ts';
import { runPipeline } from '../../src/pipeline/runPipeline.ts';
import recording from '../run/recordingPipeline.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sink = { write: () => true } as unknown as NodeJS.WriteStream;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'contrastream-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function small(step: number, fill = step): Checkpoint {
  return {
    step,
    epoch: 0,
    samplesConsumed: step * 4,
    pipeline: 'unit',
    modules: { net: { w: { shape: [2, 3], values: new Float32Array(6).fill(fill) }, n: { shape: [1], values: new Int32Array([step]) } } },
    optimizer: { kind: 'sgd', iterations: step, slots: { w: { momentum: { shape: [2, 3], values: new Float32Array(6).fill(-fill) } } } },
    state: { bank: { rows: new Float32Array([1, 2, fill]), rngState: 123 + step }, normalizer: null, list: [new Int32Array([7]), 'x'] },
    time: 1,
  };
}

/** Names in checkpoints/ that are not hidden. */
function visible(runDir: string): string[] {
  return readdirSync(path.join(runDir, 'checkpoints')).filter((n) => !n.startsWith('.'));
}

/** Runs the save loop and SIGKILLs it `delayMs` after it starts saving step `killAt`. */
function killDuringSave(runDir: string, killAt: number, delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/run/saveLoopChild.mts'), runDir, '4000000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() as string;
      for (const l of parts) {
        lines.push(l);
        if (l === `saving ${killAt}`) setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(lines) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe('checkpoints survive crashes', () => {
  it('a SIGKILL during a save leaves the previous checkpoint loadable and nothing partial visible', async () => {
    let killedMidSave = 0;
    for (const [round, delay] of [[0, 0], [1, 4], [2, 15]] as const) {
      const runDir = path.join(dir, `kill-${round}`);
      const lines = await killDuringSave(runDir, 3, delay);
      const last = lines.at(-1) as string;
      if (last.startsWith('saving')) killedMidSave++;
      const lastSaved = Math.max(...lines.filter((l) => l.startsWith('saved ')).map((l) => Number(l.slice(6))));
      expect(lastSaved).toBeGreaterThanOrEqual(2);
      // Every visible entry is the pointer or a complete checkpoint.
      for (const name of visible(runDir)) expect(name === 'latest.json' || /^step-\d+$/.test(name)).toBe(true);
      for (const c of await listCheckpoints(runDir)) {
        const ck = await readCheckpoint(c.dir);
        expect(ck.modules.net.weight.values.every((v) => v === ck.step)).toBe(true);
      }
      const latest = await latestCheckpoint(runDir);
      expect(latest.step).toBeGreaterThanOrEqual(lastSaved); // a save that finished its rename but not its "saved" line counts too
      expect(latest.step).toBeLessThanOrEqual(lastSaved + 1);
      const ck = await readCheckpoint(latest.dir);
      expect(ck.optimizer?.iterations).toBe(latest.step);
      expect(ck.state).toEqual({ rng: latest.step, rows: new Int32Array([latest.step, latest.step]) });
      // The next save removes what the crash left behind.
      await writeCheckpoint(runDir, small(100), { keep: 0 });
      expect(readdirSync(path.join(runDir, 'checkpoints')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
    expect(killedMidSave).toBeGreaterThanOrEqual(1);
  });

  it('a crash after the temporary folder is complete but before the rename changes nothing visible', async () => {
    const runDir = path.join(dir, 'crash');
    await writeCheckpoint(runDir, small(1));
    const before = readFileSync(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8');
    await expect(
      writeCheckpoint(runDir, small(2), {
        beforeCommit: () => {
          throw new Error('simulated crash');
        },
      }),
    ).rejects.toThrow('simulated crash');
    expect(visible(runDir).sort()).toEqual(['latest.json', 'step-1']);
    expect(readFileSync(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8')).toBe(before);
    expect((await readCheckpoint((await latestCheckpoint(runDir)).dir)).step).toBe(1);
    // Without a pointer (crash between folder rename and pointer update) the newest folder wins.
    await writeCheckpoint(runDir, small(2));
    rmSync(path.join(runDir, 'checkpoints', 'latest.json'));
    expect((await latestCheckpoint(runDir)).step).toBe(2);
  });
});

describe('checkpoint files', () => {
  it('round-trips weights, optimizer state, typed arrays inside the pipeline state, and keeps the newest K', async () => {
    const runDir = path.join(dir, 'roundtrip');
    for (let s = 1; s <= 4; s++) await writeCheckpoint(runDir, small(s, s + 0.5), { keep: 2 });
    expect((await listCheckpoints(runDir)).map((c) => c.step)).toEqual([3, 4]);
    const back = await readCheckpoint((await latestCheckpoint(runDir)).dir);
    const want = small(4, 4.5);
    expect(back).toEqual(want);
    expect(back.state?.list).toEqual([new Int32Array([7]), 'x']);
  });

  it('refuses non-finite weights and leaves the previous checkpoint as latest', async () => {
    const runDir = path.join(dir, 'nan');
    await writeCheckpoint(runDir, small(1));
    const bad = small(2);
    bad.modules.net.w.values[3] = NaN;
    await expect(writeCheckpoint(runDir, bad)).rejects.toThrow(/module\/net\/w: holds NaN at index 3/);
    expect((await latestCheckpoint(runDir)).step).toBe(1);
    expect(visible(runDir).sort()).toEqual(['latest.json', 'step-1']);
  });

  it('a truncated or corrupt file is a CheckpointError naming the file', async () => {
    const runDir = path.join(dir, 'corrupt');
    const stepDir = await writeCheckpoint(runDir, small(1));
    const bin = readdirSync(stepDir).find((n) => n.endsWith('.bin')) as string;
    const binPath = path.join(stepDir, bin);
    const original = readFileSync(binPath);

    truncateSync(binPath, original.byteLength - 5);
    const truncated = await readCheckpoint(stepDir).catch((e: unknown) => e);
    expect(truncated).toBeInstanceOf(CheckpointError);
    expect((truncated as CheckpointError).file).toBe(binPath);
    expect((truncated as Error).message).toContain(binPath);
    expect((truncated as Error).message).toMatch(/truncated/);

    const flipped = Buffer.from(original);
    flipped[10] ^= 0xff;
    writeFileSync(binPath, flipped);
    const corrupt = await readCheckpoint(stepDir).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(CheckpointError);
    expect((corrupt as CheckpointError).file).toBe(binPath);
    expect((corrupt as Error).message).toMatch(/sha256/);

    writeFileSync(binPath, original);
    const manifest = path.join(stepDir, 'model.json');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').slice(0, 50));
    const badJson = await readCheckpoint(stepDir).catch((e: unknown) => e);
    expect(badJson).toBeInstanceOf(CheckpointError);
    expect((badJson as CheckpointError).file).toBe(manifest);

    const pointer = path.join(runDir, 'checkpoints', 'latest.json');
    writeFileSync(pointer, '{"step": 1, "di');
    const badPointer = await latestCheckpoint(runDir).catch((e: unknown) => e);
    expect(badPointer).toBeInstanceOf(CheckpointError);
    expect((badPointer as Error).message).toContain(pointer);
  });

  it('an empty run folder says "no checkpoint", also when resuming', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const e = await latestCheckpoint(empty).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NoCheckpointError);
    expect((e as Error).message).toContain(`no checkpoint in ${empty}`);
    mkdirSync(path.join(empty, 'checkpoints'));
    writeFileSync(path.join(empty, 'checkpoints', '.step-3.1.ab.tmp'), 'partial'); // a crash's leftover is not a checkpoint
    await expect(latestCheckpoint(empty)).rejects.toThrow(NoCheckpointError);
    await expect(runPipeline(recording, { resumeFrom: empty, stream: sink })).rejects.toThrow(/no checkpoint in/);
  });
});
