/**
 * The `contrastream` command line.
 *
 *   contrastream start                      SimCLR on the embedded Fashion-MNIST subset
 *   contrastream run <pipeline> [options]   train a built-in pipeline
 *   contrastream list                       list the built-in pipelines
 *
 * Every command takes --help. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
import { formatFlags, intFlag, parseArgs, UsageError, type FlagSpec } from './parseArgs.ts';
import { BUILTIN_PIPELINES, loadBuiltin } from './pipelines.ts';
import { runPipeline, type RunOptions } from '../pipeline/runPipeline.ts';
import { ContrastreamError } from '../errors.ts';

const COMMON: Record<string, FlagSpec> = {
  backend: { type: 'string', value: 'NAME', help: 'tensorflow-gpu | tensorflow | wasm | cpu (default: fastest that loads; env CONTRASTREAM_BACKEND)' },
  help: { type: 'boolean', help: 'show this help' },
};

const RUN_FLAGS: Record<string, FlagSpec> = {
  data: { type: 'string', value: 'PATH', help: 'IDX, CIFAR-10 binary or image folder (default: embedded Fashion-MNIST subset)' },
  epochs: { type: 'string', value: 'N', help: 'passes over the data (default 1)' },
  'batch-size': { type: 'string', value: 'N', help: "images per batch (default: the pipeline's)" },
  seed: { type: 'string', value: 'N', help: 'seed of weights, augmentation and shuffling (default 0)' },
  set: { type: 'string', value: 'key=value', repeat: true, help: 'override a config key (repeatable), e.g. --set temperature=0.2' },
  'train-subset': { type: 'string', value: 'N', help: 'train on the first N images only' },
  'eval-train': { type: 'string', value: 'N', help: 'kNN bank size of the final evaluation (default: all)' },
  'eval-test': { type: 'string', value: 'N', help: 'test images of the final evaluation (default: all)' },
  'monitor-every': { type: 'string', value: 'N', help: 'kNN monitor every N epochs (0: off; default 1)' },
  ...COMMON,
};

const HELP: Record<string, string> = {
  main: `contrastream — contrastive self-supervised image encoders as reactive dataflow

Usage: contrastream <command> [options]

Commands:
  start                 train SimCLR on the embedded Fashion-MNIST subset (what 'npm start' runs)
  run <pipeline>        train a pipeline: ${Object.keys(BUILTIN_PIPELINES).join(', ')}
  list                  list the built-in pipelines

Run 'contrastream <command> --help' for a command's options.`,
  start: `Usage: contrastream start [options]

Trains SimCLR (6-conv CNN) for 2 epochs on the embedded Fashion-MNIST subset (6,000 train,
1,000 test images) and prints the kNN top-1 of the encoder next to the raw-pixel baseline.

Options:
${formatFlags({ ...RUN_FLAGS })}`,
  run: `Usage: contrastream run <pipeline> [options]

Options:
${formatFlags(RUN_FLAGS)}`,
  list: `Usage: contrastream list

Lists the built-in pipelines with their papers.`,
};

function parseSet(values: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of values ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`run: --set needs key=value, got '${kv}'`);
    const key = kv.slice(0, eq);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw; // plain string
    }
    out[key] = value;
  }
  return out;
}

function runOptions(flags: Record<string, string | boolean | string[]>, command: string): RunOptions {
  return {
    data: flags.data as string | undefined,
    epochs: intFlag(flags, 'epochs', command),
    batchSize: intFlag(flags, 'batch-size', command),
    seed: intFlag(flags, 'seed', command),
    backend: flags.backend as string | undefined,
    trainSubset: intFlag(flags, 'train-subset', command),
    evalTrain: intFlag(flags, 'eval-train', command),
    evalTest: intFlag(flags, 'eval-test', command),
    monitorEvery: intFlag(flags, 'monitor-every', command),
    overrides: parseSet(flags.set as string[] | undefined),
  };
}

async function runCommand(name: string, options: RunOptions): Promise<number> {
  const def = await loadBuiltin(name);
  if (def === undefined) {
    throw new UsageError(`run: unknown pipeline '${name}'. Built-in: ${Object.keys(BUILTIN_PIPELINES).join(', ')}`);
  }
  for (const key of Object.keys(options.overrides ?? {})) {
    if (!(key in def.defaults)) {
      throw new UsageError(`run: '${key}' is not a config key of ${name}. Keys: ${Object.keys(def.defaults).join(', ')}`);
    }
  }
  const t0 = performance.now();
  const r = await runPipeline(def, options);
  console.log(`done: ${r.steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${r.imagesPerSecond.toFixed(0)} img/s, final loss ${r.finalLoss.toFixed(4)}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(HELP.main);
        return command === undefined ? 2 : 0;
      case 'list': {
        const { flags } = parseArgs(rest, { help: COMMON.help }, 'list');
        if (flags.help) return console.log(HELP.list), 0;
        for (const name of Object.keys(BUILTIN_PIPELINES)) {
          const def = await loadBuiltin(name);
          console.log(`${name.padEnd(11)} ${def?.summary}\n${' '.repeat(12)}${def?.paper}`);
        }
        return 0;
      }
      case 'start': {
        const { flags, positionals } = parseArgs(rest, RUN_FLAGS, 'start');
        if (flags.help) return console.log(HELP.start), 0;
        if (positionals.length > 0) throw new UsageError(`start: unexpected argument '${positionals[0]}'`);
        const options = runOptions(flags, 'start');
        options.epochs ??= 2;
        return await runCommand('simclr', options);
      }
      case 'run': {
        const { flags, positionals } = parseArgs(rest, RUN_FLAGS, 'run');
        if (flags.help) return console.log(HELP.run), 0;
        if (positionals.length !== 1) throw new UsageError(`run: expected one pipeline name, got ${positionals.length}. Run 'contrastream run --help'.`);
        return await runCommand(positionals[0], runOptions(flags, 'run'));
      }
      default:
        throw new UsageError(`unknown command '${command}'. Run 'contrastream --help'.`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`contrastream: ${err.message}`);
      return 2;
    }
    if (err instanceof ContrastreamError) {
      console.error(`contrastream: ${err.name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
