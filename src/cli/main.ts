/**
 * The `contrastream` command line.
 *
 *   contrastream start                          SimCLR on the embedded Fashion-MNIST subset (npm start)
 *   contrastream run <pipeline> [options]       train a built-in, a .ts/.js module or a .json/.yaml file
 *   contrastream resume <run-dir> [options]     continue a run from its latest checkpoint
 *   contrastream eval <run-dir|weights> [...]   weighted kNN + linear probe on frozen features
 *   contrastream embed <run-dir|weights> [...]  features to a .npy / .json file
 *   contrastream report <run-dir>               (re)write a run's report.html
 *   contrastream list [--verbose]               the built-in pipelines (with their defaults)
 *
 * Every command takes --help; unknown options are errors naming the option.
 * Exit codes: 0 ok, 1 failure, 2 usage or definition error, 130 interrupted (resumable).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatFlags, intFlag, parseArgs, UsageError, type FlagSpec, type ParsedArgs } from './parseArgs.ts';
import { BUILTIN_PIPELINES, loadBuiltin } from './pipelines.ts';
import { resolvePipeline, loadRecordedPipeline } from './resolvePipeline.ts';
import { configProblems, DefinitionError } from './definitionSchema.ts';
import { runPipeline, type RunOptions, type RunResult } from '../pipeline/runPipeline.ts';
import { writeReport } from '../report/writeReport.ts';
import { evalCommand, embedCommand, EVAL_FLAGS, EMBED_FLAGS } from './evalCommands.ts';
import { readRunConfig } from './runFolder.ts';
import { ContrastreamError } from '../errors.ts';

/** runPipeline's options and result with the run-folder contract (outDir, checkpoints, resume). */
export type RunFolderOptions = RunOptions & {
  outDir?: string;
  checkpointEvery?: number;
  resumeFrom?: string;
  handleSignals?: boolean;
  /** What config.json records as `pipeline` (built-in name or module path). */
  pipelineName?: string;
};
export type RunFolderResult = RunResult & { runDir?: string; interrupted?: boolean };

const HELP_FLAG: FlagSpec = { type: 'boolean', help: 'show this help' };
const BACKEND_FLAG: FlagSpec = { type: 'string', value: 'NAME', help: 'tensorflow-gpu | tensorflow | wasm | cpu (default: fastest that loads; env CONTRASTREAM_BACKEND)' };

export const RUN_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', value: 'PATH', help: 'IDX, CIFAR-10 binary or image folder (default: embedded Fashion-MNIST subset)' },
  epochs: { type: 'string', value: 'N', help: 'passes over the data (default 1)' },
  'batch-size': { type: 'string', value: 'N', help: "images per batch (default: the pipeline's)" },
  seed: { type: 'string', value: 'N', help: 'seed of weights, augmentation and shuffling (default 0)' },
  backend: BACKEND_FLAG,
  out: { type: 'string', value: 'DIR', help: 'run folder: config, metrics, checkpoints, weights, report (default runs/<pipeline>-<time>)' },
  set: { type: 'string', value: 'key=value', repeat: true, help: 'override a config key (repeatable; JSON values, bare words are strings), e.g. --set temperature=0.2' },
  'checkpoint-every': { type: 'string', value: 'N', help: 'checkpoint every N steps (0: only at the end and on Ctrl-C; default 0)' },
  'monitor-every': { type: 'string', value: 'N', help: 'kNN monitor every N epochs when the data has labels (0: off; default 1)' },
  'train-subset': { type: 'string', value: 'N', help: 'train on the first N images only' },
  'eval-train': { type: 'string', value: 'N', help: 'kNN bank size of the final evaluation (default: all)' },
  'eval-test': { type: 'string', value: 'N', help: 'test images of the final evaluation (default: all)' },
  'no-report': { type: 'boolean', help: 'do not write report.html' },
  help: HELP_FLAG,
};

const RESUME_FLAGS: Record<string, FlagSpec> = {
  epochs: { type: 'string', value: 'N', help: "total epochs (default: the run's; larger extends the run)" },
  backend: BACKEND_FLAG,
  'checkpoint-every': { type: 'string', value: 'N', help: "checkpoint every N steps (default: the run's)" },
  'no-report': { type: 'boolean', help: 'do not write report.html' },
  help: HELP_FLAG,
};

const builtins = () => Object.keys(BUILTIN_PIPELINES).join(', ');

const HELP: Record<string, () => string> = {
  main: () => `contrastream — contrastive self-supervised image encoders as reactive dataflow

Usage: contrastream <command> [options]

Commands:
  start                        train SimCLR on the embedded Fashion-MNIST subset (what 'npm start' runs)
  run <pipeline>               train: a built-in (${builtins()}),
                               a .ts/.js module exporting a pipeline, or a .json/.yaml pipeline file
  resume <run-dir>             continue an interrupted run from its latest checkpoint
  eval <run-dir|weights>       weighted kNN (k=200, tau=0.1) and linear-probe top-1 on frozen features
  embed <run-dir|weights>      write features of a dataset to a .npy or .json file
  report <run-dir>             (re)write the run's report.html
  list                         list the built-in pipelines (--verbose: with their config defaults)

Run 'contrastream <command> --help' for a command's options.`,
  start: () => `Usage: contrastream start [options]

Trains SimCLR (6-conv CNN) for 5 epochs on the embedded Fashion-MNIST subset (6,000 train,
1,000 test images), then prints the weighted-kNN top-1 of the encoder next to the raw-pixel
baseline and writes a run folder with report.html. Takes the options of 'run'.

Options:
${formatFlags(RUN_FLAGS)}`,
  run: () => `Usage: contrastream run <pipeline> [options]

<pipeline> is one of:
  a built-in name            ${builtins()}
  a .ts / .js module          whose default export is a pipeline definition (definePipeline)
  a .json / .yaml file        declarative: { pipeline: <built-in>, data, epochs, batchSize, seed,
                              backend, out, checkpointEvery, monitorEvery, trainSubset, evalTrain,
                              evalTest, config: { <config keys> } } — validated, never executed

Options given here override the file's. The resolved config is printed at start and saved
as config.json in the run folder, next to metrics.jsonl, checkpoints/, weights/ and report.html.
Ctrl-C (SIGINT) or SIGTERM saves a checkpoint at the next step; 'contrastream resume <dir>' continues.

Options:
${formatFlags(RUN_FLAGS)}`,
  resume: () => `Usage: contrastream resume <run-dir> [options]

Continues the run in <run-dir> from its latest checkpoint, with the pipeline, config, data and
seed recorded in its config.json: the result is the same as an uninterrupted run.

Options:
${formatFlags(RESUME_FLAGS)}`,
  eval: () => `Usage: contrastream eval <run-dir|weights-dir> [options]

Encodes the train and test split of the data with the frozen encoder, then prints the
weighted-kNN top-1 (k=200, tau=0.1, cosine) and the top-1 of a linear probe (softmax
regression trained on the train features), plus the raw-pixel kNN baseline. In a run folder
the results also go to eval.json and report.html.

Options:
${formatFlags(EVAL_FLAGS)}`,
  embed: () => `Usage: contrastream embed <run-dir|weights-dir> --out FILE [options]

Writes the encoder's features of every image of a split: FILE.npy (float32 [N, D], with
FILE.labels.npy int32 [N] when the data has labels and FILE.paths.txt for image folders) or
FILE.json ({ shape, features, labels?, paths? }).

Options:
${formatFlags(EMBED_FLAGS)}`,
  report: () => `Usage: contrastream report <run-dir>

(Re)writes report.html from the run folder's config.json, metrics.jsonl and embedding.json.

Options:
${formatFlags({ help: HELP_FLAG })}`,
  list: () => `Usage: contrastream list [--verbose]

Lists the built-in pipelines with their papers; --verbose adds each pipeline's config keys
and defaults (what --set and a pipeline file's 'config' may change).

Options:
${formatFlags({ verbose: { type: 'boolean', help: 'print the config defaults' }, help: HELP_FLAG })}`,
};

/** Parses `--set key=value` pairs: JSON values, bare words as strings. */
export function parseSet(values: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of values ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set needs key=value, got '${kv}'`);
    const key = kv.slice(0, eq).trim();
    const raw = kv.slice(eq + 1).trim();
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw; // a bare word
    }
    out[key] = value;
  }
  return out;
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A fresh default run folder: runs/<name>-<yyyymmdd-hhmmss>[-k]. */
export function defaultRunDir(name: string, base = 'runs'): string {
  const stem = resolve(base, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${timestamp()}`);
  let dir = stem;
  for (let k = 2; existsSync(dir); k++) dir = `${stem}-${k}`;
  return dir;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function finish(result: RunFolderResult, runDir: string, t0: number, report: boolean): number {
  say(`done: ${result.steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${result.imagesPerSecond.toFixed(0)} img/s, final loss ${result.finalLoss.toFixed(4)}`);
  if (report) say(`report: ${writeReport(runDir)}`);
  say(`run folder: ${runDir}`);
  if (result.interrupted) {
    say(`interrupted: checkpoint saved. Continue with: contrastream resume ${runDir}`);
    return 130;
  }
  return 0;
}

/** Writes the report of a run that failed part-way, when there is anything to show. */
function reportAfterFailure(runDir: string, report: boolean): void {
  if (!report || !existsSync(join(runDir, 'config.json'))) return;
  try {
    process.stderr.write(`report of the failed run: ${writeReport(runDir)}\n`);
  } catch {
    // the original error matters more
  }
}

async function runCommand(pipelineArg: string, flags: ParsedArgs['flags'], command: string): Promise<number> {
  const resolved = await resolvePipeline(pipelineArg);
  const file = resolved.file;
  const setOverrides = parseSet(flags.set as string[] | undefined);
  const problems = configProblems(setOverrides, resolved.def.defaults, '--set ');
  if (problems.length > 0) throw new DefinitionError(`${command} ${pipelineArg}`, problems);
  const overrides = { ...(file?.config ?? {}), ...setOverrides };
  const data = (flags.data as string | undefined) ?? file?.data;
  const outDir = resolve((flags.out as string | undefined) ?? file?.out ?? defaultRunDir(resolved.def.name));
  if (existsSync(join(outDir, 'config.json'))) {
    throw new UsageError(`${command}: '${outDir}' already holds a run. Continue it with 'contrastream resume ${outDir}', or pass another --out.`);
  }
  mkdirSync(outDir, { recursive: true });
  const options: RunFolderOptions = {
    data: data === undefined ? undefined : resolve(data),
    epochs: intFlag(flags, 'epochs', command) ?? file?.epochs,
    batchSize: intFlag(flags, 'batch-size', command) ?? file?.batchSize,
    seed: intFlag(flags, 'seed', command) ?? file?.seed,
    backend: (flags.backend as string | undefined) ?? file?.backend,
    trainSubset: intFlag(flags, 'train-subset', command) ?? file?.trainSubset,
    evalTrain: intFlag(flags, 'eval-train', command) ?? file?.evalTrain,
    evalTest: intFlag(flags, 'eval-test', command) ?? file?.evalTest,
    monitorEvery: intFlag(flags, 'monitor-every', command) ?? file?.monitorEvery,
    checkpointEvery: intFlag(flags, 'checkpoint-every', command) ?? file?.checkpointEvery ?? 0,
    overrides,
    outDir,
    handleSignals: true,
    pipelineName: resolved.ref,
  };
  if (options.epochs === 0) throw new UsageError(`${command}: option '--epochs' must be at least 1`);
  if (options.batchSize === 0) throw new UsageError(`${command}: option '--batch-size' must be at least 1`);
  if (command === 'start') options.epochs ??= 5;

  const t0 = performance.now();
  const report = flags['no-report'] !== true;
  let result: RunFolderResult;
  try {
    result = (await runPipeline(resolved.def, options)) as RunFolderResult;
  } catch (err) {
    reportAfterFailure(outDir, report);
    throw err;
  }
  return finish(result, result.runDir ?? outDir, t0, report);
}

async function resumeCommand(runDirArg: string, flags: ParsedArgs['flags']): Promise<number> {
  const runDir = resolve(runDirArg);
  const recorded = readRunConfig(runDir);
  if (!recorded.isRunFolder) throw new UsageError(`resume: '${runDir}' is a weights folder; pass the run folder that holds config.json and checkpoints/`);
  const def = await loadRecordedPipeline(recorded.pipeline);
  const options: RunFolderOptions = {
    resumeFrom: runDir,
    outDir: runDir,
    handleSignals: true,
    pipelineName: recorded.pipeline,
  };
  const epochs = intFlag(flags, 'epochs', 'resume');
  if (epochs !== undefined) options.epochs = epochs;
  if (flags.backend !== undefined) options.backend = flags.backend as string;
  const every = intFlag(flags, 'checkpoint-every', 'resume');
  if (every !== undefined) options.checkpointEvery = every;
  say(`resuming ${recorded.pipeline} in ${runDir}`);
  const t0 = performance.now();
  const report = flags['no-report'] !== true;
  let result: RunFolderResult;
  try {
    result = (await runPipeline(def, options)) as RunFolderResult;
  } catch (err) {
    reportAfterFailure(runDir, report);
    throw err;
  }
  return finish(result, result.runDir ?? runDir, t0, report);
}

async function listCommand(verbose: boolean): Promise<number> {
  for (const name of Object.keys(BUILTIN_PIPELINES)) {
    const def = await loadBuiltin(name);
    say(`${name.padEnd(11)} ${def?.summary ?? ''}\n${' '.repeat(12)}${def?.paper ?? ''}`);
    if (verbose && def !== undefined) {
      for (const [k, v] of Object.entries(def.defaults)) say(`${' '.repeat(14)}${k} = ${JSON.stringify(v)}`);
    }
  }
  return 0;
}

function onePositional(positionals: string[], command: string, what: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(`${command}: expected ${what}, got ${positionals.length === 0 ? 'none' : positionals.map((p) => `'${p}'`).join(' ')}. Run 'contrastream ${command} --help'.`);
  }
  return positionals[0];
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        say(HELP.main());
        return 2;
      case '--help':
      case '-h':
      case 'help':
        say(HELP.main());
        return 0;
      case 'list': {
        const { flags, positionals } = parseArgs(rest, { verbose: { type: 'boolean', help: '' }, help: HELP_FLAG }, 'list');
        if (flags.help) return say(HELP.list()), 0;
        if (positionals.length > 0) throw new UsageError(`list: unexpected argument '${positionals[0]}'`);
        return await listCommand(flags.verbose === true);
      }
      case 'start': {
        const { flags, positionals } = parseArgs(rest, RUN_FLAGS, 'start');
        if (flags.help) return say(HELP.start()), 0;
        if (positionals.length > 0) throw new UsageError(`start: unexpected argument '${positionals[0]}'`);
        return await runCommand('simclr', flags, 'start');
      }
      case 'run': {
        const { flags, positionals } = parseArgs(rest, RUN_FLAGS, 'run');
        if (flags.help) return say(HELP.run()), 0;
        return await runCommand(onePositional(positionals, 'run', 'one pipeline (name, module or .json/.yaml file)'), flags, 'run');
      }
      case 'resume': {
        const { flags, positionals } = parseArgs(rest, RESUME_FLAGS, 'resume');
        if (flags.help) return say(HELP.resume()), 0;
        return await resumeCommand(onePositional(positionals, 'resume', 'one run folder'), flags);
      }
      case 'eval': {
        const { flags, positionals } = parseArgs(rest, EVAL_FLAGS, 'eval');
        if (flags.help) return say(HELP.eval()), 0;
        return await evalCommand(onePositional(positionals, 'eval', 'one run folder or weights folder'), flags);
      }
      case 'embed': {
        const { flags, positionals } = parseArgs(rest, EMBED_FLAGS, 'embed');
        if (flags.help) return say(HELP.embed()), 0;
        return await embedCommand(onePositional(positionals, 'embed', 'one run folder or weights folder'), flags);
      }
      case 'report': {
        const { flags, positionals } = parseArgs(rest, { help: HELP_FLAG }, 'report');
        if (flags.help) return say(HELP.report()), 0;
        const dir = resolve(onePositional(positionals, 'report', 'one run folder'));
        if (!existsSync(join(dir, 'config.json')) && !existsSync(join(dir, 'metrics.jsonl'))) {
          throw new UsageError(`report: '${dir}' is not a run folder (no config.json or metrics.jsonl)`);
        }
        say(`report: ${writeReport(dir)}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command '${command}'. Commands: start, run, resume, eval, embed, report, list. Run 'contrastream --help'.`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`contrastream: ${err.message}\n`);
      return 2;
    }
    if (err instanceof DefinitionError) {
      process.stderr.write(`contrastream: invalid pipeline definition in ${err.message}\n`);
      return 2;
    }
    if (err instanceof ContrastreamError) {
      process.stderr.write(`contrastream: ${err.name}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
