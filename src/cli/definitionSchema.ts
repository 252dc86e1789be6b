/**
 * The schema of declarative pipeline files (`.json`, `.yaml`/`.yml`) and of `--set` overrides.
 *
 * A declarative file names a built-in pipeline and sets run options and config keys:
 *
 *   pipeline: simclr            # required: a built-in name (never a path: nothing is imported)
 *   data: ./images              # IDX, CIFAR-10 binary or image folder (relative to the file)
 *   epochs: 5
 *   batchSize: 128              # same as config.batchSize
 *   seed: 0
 *   backend: wasm
 *   out: runs/my-run            # run folder (relative to the file)
 *   checkpointEvery: 200        # steps; 0 = only at the end and on SIGINT/SIGTERM
 *   monitorEvery: 1             # kNN monitor every N epochs (0 = off)
 *   trainSubset: 2000
 *   evalTrain: 5000
 *   evalTest: 1000
 *   config:
 *     temperature: 0.2
 *
 * The file is data only. JSON goes through `JSON.parse`; YAML through the `yaml` package with
 * the core schema, no custom tags (`!!js/function` and other unknown tags are errors, not
 * code), merge keys off, a small alias budget (alias "billion laughs" bombs are errors), and a
 * size cap. The only module a declarative file can cause to be imported is the built-in
 * pipeline it names.
 *
 * Config keys are checked against the pipeline's `defaults`: a key must exist there, its value
 * must have the default's type (numbers, booleans, strings, arrays of the same element type,
 * nested objects), and well-known keys have ranges and choices (`temperature > 0`,
 * `momentum` in [0, 1), `encoder` one of convnet6/resnet18/resnet50...). Every problem is
 * reported with the key path, e.g. `config.temperature: must be > 0, got -1`.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ContrastreamError } from '../errors.ts';
import { BACKEND_ORDER } from '../backend/initBackend.ts';

/** A declarative file or an override broke the schema. Lists every problem with its key path. */
export class DefinitionError extends ContrastreamError {
  /** One entry per problem, each starting with its key path. */
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}:\n  ${problems.join('\n  ')}\nFix the keys above (see 'contrastream run --help' and the pipeline's defaults in 'contrastream list --verbose').`);
    this.problems = problems;
  }
}

/** Largest declarative file read (bytes). */
export const MAX_DEFINITION_BYTES = 1 << 20;
/** Most YAML aliases resolved in one file. */
export const MAX_YAML_ALIASES = 50;

/** Run options a declarative file may set (top level), all optional except `pipeline`. */
export interface DeclarativeDefinition {
  pipeline: string;
  data?: string;
  epochs?: number;
  batchSize?: number;
  seed?: number;
  backend?: string;
  out?: string;
  checkpointEvery?: number;
  monitorEvery?: number;
  trainSubset?: number;
  evalTrain?: number;
  evalTest?: number;
  config: Record<string, unknown>;
}

type Check = (v: unknown) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? `[${v.map(describe).join(', ')}]` : isObject(v) ? 'an object' : String(v));
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const int = (min: number, max = Infinity): Check => (v) =>
  typeof v !== 'number' || !Number.isInteger(v) ? `must be an integer, got ${describe(v)}` : v < min || v > max ? `must be ${max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`}, got ${v}` : undefined;
const num = (test: (x: number) => boolean, what: string): Check => (v) =>
  typeof v !== 'number' || !Number.isFinite(v) ? `must be a finite number, got ${describe(v)}` : test(v) ? undefined : `must be ${what}, got ${v}`;
const positive = num((x) => x > 0, '> 0');
const nonNegative = num((x) => x >= 0, '>= 0');
const unitOpen = num((x) => x >= 0 && x < 1, 'in [0, 1)');
const unit = num((x) => x >= 0 && x <= 1, 'in [0, 1]');
const oneOf = (...choices: (string | number)[]): Check => (v) => (choices.includes(v as string | number) ? undefined : `must be one of ${choices.map(describe).join(', ')}, got ${describe(v)}`);
const orNull = (c: Check): Check => (v) => (v === null ? undefined : c(v));
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : `must be true or false, got ${describe(v)}`);
const str: Check = (v) => (typeof v === 'string' && v.length > 0 ? undefined : `must be a non-empty string, got ${describe(v)}`);
const scale: Check = (v) =>
  Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && v[0] > 0 && v[0] <= v[1] && v[1] <= 1
    ? undefined
    : `must be [min, max] with 0 < min <= max <= 1, got ${describe(v)}`;
const intList = (min: number): Check => (v) =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= min)
    ? undefined
    : `must be a non-empty list of integers >= ${min}, got ${describe(v)}`;

/**
 * Ranges and choices of config keys the built-in pipelines share. A rule applies only where
 * the pipeline's own default satisfies it (so a pipeline with an unusual default is never
 * locked out of it); otherwise the key is checked by its default's type alone.
 */
export const CONFIG_RULES: Record<string, Check> = {
  encoder: oneOf('convnet6', 'resnet18', 'resnet50'),
  imageSize: orNull(int(8, 1024)),
  batchSize: int(1),
  temperature: orNull(positive),
  lr: positive,
  momentum: unitOpen,
  weightDecay: nonNegative,
  warmupEpochs: nonNegative,
  cropScale: scale,
  colorStrength: nonNegative,
  featureDim: int(1),
  projectionDim: int(1),
  headHiddenDim: int(1),
  negatives: int(1),
  queueSize: int(1),
  keyMomentum: unit,
  bankMomentum: unitOpen,
  proximalLambda: nonNegative,
  lowPassSigma: positive,
  inBatchEpochs: int(0),
  grid: int(2),
  patchSize: orNull(int(1)),
  stride: orNull(int(1)),
  contextDim: int(1),
  contextLayers: int(1),
  offsets: intList(1),
  shuffleBnGroups: int(1),
  version: oneOf(1, 2),
  mlpHead: orNull(bool),
  augPlus: orNull(bool),
  cosineLr: orNull(bool),
  normalize: bool,
  sharedNegatives: bool,
  objective: oneOf('nce', 'softmax'),
  loss: oneOf('nce', 'softmax'),
  views: oneOf('auto', 'lab', 'frequency'),
  paradigm: oneOf('full', 'core'),
  features: oneOf('z', 'c'),
};

/** Checks a value against the type of a default, recursively. Pushes problems with paths. */
function checkAgainstDefault(path: string, value: unknown, dflt: unknown, problems: string[]): void {
  if (dflt === null || dflt === undefined) {
    // Nullable key with no rule: any JSON scalar.
    if (value !== null && !['number', 'string', 'boolean'].includes(typeof value)) problems.push(`${path}: must be null, a number, a string or a boolean, got ${typeName(value)}`);
    return;
  }
  if (Array.isArray(dflt)) {
    if (!Array.isArray(value)) return void problems.push(`${path}: must be a list like ${describe(dflt)}, got ${describe(value)}`);
    if (dflt.length > 0) value.forEach((x, i) => checkAgainstDefault(`${path}[${i}]`, x, dflt[0], problems));
    return;
  }
  if (isObject(dflt)) {
    if (!isObject(value)) return void problems.push(`${path}: must be an object, got ${describe(value)}`);
    checkKeys(path, value, dflt, problems);
    return;
  }
  if (typeof dflt === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) problems.push(`${path}: must be a finite number, got ${describe(value)}`);
    return;
  }
  if (typeof value !== typeof dflt) problems.push(`${path}: must be a ${typeof dflt}, got ${describe(value)}`);
}

function checkKeys(path: string, values: Record<string, unknown>, defaults: Record<string, unknown>, problems: string[]): void {
  for (const key of Object.keys(values)) {
    const p = path === '' ? key : path.endsWith(' ') ? `${path}${key}` : `${path}.${key}`;
    if (!Object.hasOwn(defaults, key)) {
      problems.push(`${p}: unknown key. Known keys: ${Object.keys(defaults).join(', ')}`);
      continue;
    }
    const value = values[key];
    const dflt = defaults[key];
    const rule = path.split('.').length <= 1 ? CONFIG_RULES[key] : undefined; // rules are for top-level config keys
    if (rule !== undefined && rule(dflt) === undefined) {
      const problem = rule(value);
      if (problem !== undefined) problems.push(`${p}: ${problem}`);
    } else {
      checkAgainstDefault(p, value, dflt, problems);
    }
  }
}

/**
 * Validates config overrides against a pipeline's defaults. Returns the problems (empty when
 * valid), each prefixed by `prefix` + key path (e.g. `config.temperature: must be > 0`).
 */
export function configProblems(overrides: Record<string, unknown>, defaults: object, prefix = 'config'): string[] {
  const problems: string[] = [];
  checkKeys(prefix, overrides, defaults as Record<string, unknown>, problems);
  return problems;
}

/** Throws DefinitionError unless the overrides fit the defaults. */
export function validateConfig(overrides: Record<string, unknown>, defaults: object, source: string, prefix = 'config'): void {
  const problems = configProblems(overrides, defaults, prefix);
  if (problems.length > 0) throw new DefinitionError(source, problems);
}

const TOP_LEVEL: Record<string, Check> = {
  pipeline: str,
  data: str,
  epochs: int(1),
  batchSize: int(1),
  seed: int(0, 2 ** 32 - 1),
  backend: oneOf(...BACKEND_ORDER),
  out: str,
  checkpointEvery: int(0),
  monitorEvery: int(0),
  trainSubset: int(1),
  evalTrain: int(1),
  evalTest: int(1),
  config: (v) => (isObject(v) ? undefined : `must be a mapping of config keys, got ${describe(v)}`),
};

/**
 * Parses a declarative file's text (format from the extension) into plain data, without
 * executing or importing anything. Throws DefinitionError on syntax errors, unknown tags,
 * alias bombs and duplicate keys.
 */
export function parseDefinitionText(text: string, format: 'json' | 'yaml', source: string): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new DefinitionError(source, [`(file): not valid JSON: ${(err as Error).message}`]);
    }
  }
  const doc = parseDocument(text, {
    schema: 'core',
    customTags: [],
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: false,
    version: '1.2',
  });
  const issues = [...doc.errors, ...doc.warnings].map((e) => `(file): ${e.message.split('\n')[0]}`);
  if (issues.length > 0) throw new DefinitionError(source, issues);
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw new DefinitionError(source, [`(file): ${(err as Error).message.split('\n')[0]} (at most ${MAX_YAML_ALIASES} aliases are resolved)`]);
  }
}

/**
 * Checks the top level of a parsed declarative file and, given the named pipeline's defaults,
 * its `config`. `defaults` is looked up by the caller from the built-in name (so that an
 * unknown name is reported before anything is imported). Paths in `data`/`out` are resolved
 * against `baseDir`.
 */
export async function validateDefinition(
  raw: unknown,
  source: string,
  lookupDefaults: (name: string) => Promise<object | undefined>,
  baseDir: string,
): Promise<DeclarativeDefinition> {
  if (!isObject(raw)) throw new DefinitionError(source, [`(file): must be a mapping with at least 'pipeline', got ${typeName(raw)}`]);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const check = Object.hasOwn(TOP_LEVEL, key) ? TOP_LEVEL[key] : undefined;
    if (check === undefined) {
      problems.push(`${key}: unknown key. Known keys: ${Object.keys(TOP_LEVEL).join(', ')}`);
      continue;
    }
    const problem = check(value);
    if (problem !== undefined) problems.push(`${key}: ${problem}`);
  }
  if (!Object.hasOwn(raw, 'pipeline')) problems.push(`pipeline: missing. Name a built-in pipeline, e.g. 'pipeline: simclr'`);
  let defaults: object | undefined;
  if (typeof raw.pipeline === 'string') {
    defaults = await lookupDefaults(raw.pipeline);
    if (defaults === undefined) problems.push(`pipeline: '${raw.pipeline}' is not a built-in pipeline (declarative files can only name built-ins; use a .ts/.js module for your own)`);
  }
  const config = isObject(raw.config) ? raw.config : {};
  if (defaults !== undefined) {
    problems.push(...configProblems(config, defaults));
    if (typeof raw.batchSize === 'number' && Object.hasOwn(config, 'batchSize') && config.batchSize !== raw.batchSize) {
      problems.push(`batchSize: ${raw.batchSize} disagrees with config.batchSize ${describe(config.batchSize)}; set one of them`);
    }
  }
  if (problems.length > 0) throw new DefinitionError(source, problems);
  const out: DeclarativeDefinition = { pipeline: raw.pipeline as string, config: { ...config } };
  for (const key of ['epochs', 'batchSize', 'seed', 'checkpointEvery', 'monitorEvery', 'trainSubset', 'evalTrain', 'evalTest'] as const) {
    if (raw[key] !== undefined) out[key] = raw[key] as number;
  }
  if (raw.backend !== undefined) out.backend = raw.backend as string;
  if (raw.data !== undefined) out.data = resolve(baseDir, raw.data as string);
  if (raw.out !== undefined) out.out = resolve(baseDir, raw.out as string);
  return out;
}

/** Reads and validates a declarative `.json` / `.yaml` / `.yml` file. */
export async function readDefinitionFile(file: string, lookupDefaults: (name: string) => Promise<object | undefined>): Promise<DeclarativeDefinition> {
  const path = resolve(file);
  const ext = extname(path).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
  if (format === undefined) throw new DefinitionError(path, [`(file): a declarative pipeline file ends in .json, .yaml or .yml, got '${ext}'`]);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new DefinitionError(path, ['(file): cannot read it; check the path']);
  }
  if (size > MAX_DEFINITION_BYTES) throw new DefinitionError(path, [`(file): ${size} bytes is larger than the ${MAX_DEFINITION_BYTES}-byte limit for a pipeline file`]);
  const raw = parseDefinitionText(readFileSync(path, 'utf8'), format, path);
  return validateDefinition(raw, path, lookupDefaults, dirname(path));
}
