/**
 * The contrastream CLI: help and usage errors of every command (the real bin), and a tiny
 * end-to-end session: `run` interrupted by SIGINT (real bin) -> `resume` -> `eval` -> `embed`
 * -> report.html, on 256 images of the embedded Fashion-MNIST subset.
 */
import simclr from '../../pipelines/simclr.ts';
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { resolvePipeline, PipelineModuleError } from '../../src/cli/resolvePipeline.ts';
import { readNpy } from '../../src/eval/writeFeatures.ts';

const BIN = fileURLToPath(new URL('../../bin/contrastream.mjs', import.meta.url));
const SIMCLR = fileURLToPath(new URL('../../pipelines/simclr.ts', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'cs-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bin(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CONTRASTREAM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Runs main() in-process with stdout/stderr captured. */
async function inProcess(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}

describe('contrastream CLI: help and usage errors (real bin)', () => {
  it('--help works on every command and unknown options are named', () => {
    // One process per check costs ~1 s of startup; the in-process checks below cover the rest.
    const help = bin(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: contrastream run <pipeline>/);
    for (const flag of ['--data', '--epochs', '--batch-size', '--backend', '--out', '--seed', '--set', '--checkpoint-every']) expect(help.out).toContain(flag);
    const bad = bin(['eval', 'x', '--bogus', '1']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("eval: unknown option '--bogus'");
  });

  it('every command has --help (in-process)', async () => {
    for (const cmd of ['start', 'run', 'resume', 'eval', 'embed', 'report', 'list']) {
      const r = await inProcess([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.out, cmd).toMatch(new RegExp(`Usage: contrastream ${cmd}`));
      expect(r.out, cmd).toContain('--help');
    }
    const top = await inProcess(['--help']);
    expect(top.out).toMatch(/Commands:[\s\S]*run <pipeline>[\s\S]*resume <run-dir>[\s\S]*eval[\s\S]*embed[\s\S]*list/);
    expect((await inProcess([])).code).toBe(2);
  });

  it('usage errors: unknown command, pipeline, option, bad --set, missing arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['run', 'simclrr'], /unknown pipeline 'simclrr'. Give a built-in name \(simclr, /],
      [['run', 'simclr', '--epoch', '2'], /run: unknown option '--epoch'/],
      [['run', 'simclr', '--set', 'temperature=-1', '--out', join(tmp, 'x')], /--set temperature: must be > 0, got -1/],
      [['run', 'simclr', '--set', 'temprature=0.1', '--out', join(tmp, 'x')], /--set temprature: unknown key/],
      [['run', 'simclr', '--epochs', 'two'], /'--epochs' needs a non-negative integer, got 'two'/],
      [['run'], /run: expected one pipeline/],
      [['resume', tmp], /neither a run folder \(no config.json\)/],
      [['embed', tmp], /option '--out FILE' is required/],
      [['list', 'extra'], /unexpected argument 'extra'/],
      [['report', tmp], /is not a run folder \(no config.json or metrics.jsonl\)/],
      [['eval', join(tmp, 'missing')], /does not exist/],
      [['embed', tmp, '--out', 'x.csv'], /must end in \.npy or \.json/],
    ];
    for (const [args, re] of cases) {
      const r = await inProcess(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(re);
    }
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('list names every built-in; --verbose prints their defaults', async () => {
    const r = await inProcess(['list', '--verbose']);
    expect(r.code).toBe(0);
    for (const name of ['simclr', 'moco', 'instdisc', 'invaspread', 'cpc', 'cmc']) expect(r.out).toMatch(new RegExp(`^${name} `, 'm'));
    expect(r.out).toMatch(new RegExp(`^\\s+temperature = ${simclr.defaults.temperature}$`, 'm'));
  });

  it('a .ts module pipeline resolves by path; a module without a definition is refused by name', async () => {
    const good = join(tmp, 'mine.ts');
    writeFileSync(good, `import simclr from ${JSON.stringify(SIMCLR)};\nexport default { ...simclr, name: 'mine' };\n`);
    const r = await resolvePipeline(good);
    expect(r).toMatchObject({ kind: 'module', ref: good });
    expect(r.def.name).toBe('mine');
    const bad = join(tmp, 'bad.mjs');
    writeFileSync(bad, 'export default { name: "bad" };\n');
    await expect(resolvePipeline(bad)).rejects.toThrow(PipelineModuleError);
    await expect(resolvePipeline(bad)).rejects.toThrow(/lacks 'defaults' \(object\), 'create' \(function\)/);
  });
});

describe('contrastream CLI: run -> SIGINT -> resume -> eval -> embed', () => {
  const run = join(tmp, 'run');
  const common = ['--train-subset', '256', '--batch-size', '64', '--eval-train', '200', '--eval-test', '100', '--monitor-every', '0'];

  it('run is interrupted by SIGINT at a step boundary with a checkpoint and a report (exit 130)', async () => {
    const child = spawn(process.execPath, [BIN, 'run', 'simclr', '--epochs', '1', '--out', run, ...common], {
      env: { ...process.env, CONTRASTREAM_THREADS: '1' },
    });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      out += String(d);
      if (!sent && /step 2\/4/.test(out)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d) => (out += String(d)));
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(code, out).toBe(130);
    expect(out).toContain(`contrastream resume ${run}`);
    expect(out).toMatch(/^config: \{.*"batchSize":64/m); // the resolved config is printed
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ pipeline: 'simclr', version: 1, config: { batchSize: 64, temperature: simclr.defaults.temperature } });
    expect(existsSync(join(run, 'checkpoints'))).toBe(true);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('<svg id="loss-chart"');
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8')).not.toContain('"type":"final"');
  }, 90_000);

  it('resume finishes the run; eval prints kNN and linear-probe top-1; embed writes .npy', async () => {
    const r = await inProcess(['resume', run]);
    expect(r.code, r.err).toBe(0);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.type === 'step').map((l) => l.step);
    expect(steps).toEqual([1, 2, 3, 4]); // each step once, in order, across the interruption
    expect(lines.at(-1)).toMatchObject({ type: 'final', steps: 4 });
    expect(existsSync(join(run, 'weights', 'pipeline.json'))).toBe(true);

    const e = await inProcess(['eval', run, '--eval-train', '200', '--eval-test', '100', '--probe-epochs', '5']);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/kNN top-1 \(k=200, tau=0.1\): encoder \d+\.\d\d% \| raw pixels \d+\.\d\d%/);
    expect(e.out).toMatch(/linear probe top-1: \d+\.\d\d%/);
    const ev = JSON.parse(readFileSync(join(run, 'eval.json'), 'utf8'));
    expect(ev.knnTop1).toBeGreaterThan(0.2); // 10 classes: chance is 0.1
    expect(ev.linearTop1).toBeGreaterThan(0.2);
    expect(ev).toMatchObject({ k: 200, temperature: 0.1, trainImages: 200, testImages: 100 });

    const file = join(tmp, 'feats.npy');
    const m = await inProcess(['embed', join(run, 'weights'), '--out', file, '--split', 'test', '--limit', '50']);
    expect(m.code, m.err).toBe(0);
    const f = readNpy(file);
    expect(f.shape[0]).toBe(50);
    expect(f.shape[1]).toBeGreaterThan(8);
    expect(f.data.every((x) => Number.isFinite(x))).toBe(true);
    const labels = readNpy(join(tmp, 'feats.labels.npy'));
    expect(labels.shape).toEqual([50]);
    expect(Array.from(labels.data).every((l) => l >= 0 && l < 10)).toBe(true);
    const w = await inProcess(['resume', join(run, 'weights')]);
    expect(w.code).toBe(2);
    expect(w.err).toMatch(/is a weights folder; pass the run folder/);
    // A run folder that already holds a run is not overwritten.
    const again = await inProcess(['run', 'simclr', '--out', run]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already holds a run\. Continue it with 'contrastream resume/);
  }, 90_000);
});
