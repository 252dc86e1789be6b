/**
 * The run folder written by `runPipeline({ outDir })`:
 *
 *   config.json      { pipeline, config, run, version: 1 }: the resolved pipeline config and run
 *                    options (data, epochs, batchSize, seed, backend, dataset, ...), at start
 *   metrics.jsonl    one JSON object per line, `type` first:
 *                      {"type":"step","step":N,"epoch":E,"loss":x,"lr":x,"imagesPerSecond":x,"time":unixMs}
 *                      {"type":"knn","epoch":E,"step":N,"top1":x}          (E = epochs completed)
 *                      {"type":"final","knnTop1":x,"rawKnnTop1":x,"imagesPerSecond":x,"steps":N}
 *   checkpoints/     see checkpoint.ts
 *   weights/         final weights of every module (saveWeights format) + pipeline.json
 *   embedding.json   { labels, points, method: 'pca' }: 2-D PCA of up to 2000 test features
 *   report.html      written by writeReport (src/report)
 *
 * JSON files are written atomically (temp file in the same folder, fsync, rename).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ArgumentError, CheckpointError } from '../errors.ts';
import { writeAtomic } from '../models/fileSystemIO.ts';

export const CONFIG_JSON = 'config.json';
export const METRICS_JSONL = 'metrics.jsonl';
export const EMBEDDING_JSON = 'embedding.json';
export const WEIGHTS_DIR = 'weights';
/** Beside saved weights: the same fields as config.json, so the weights can be loaded alone. */
export const PIPELINE_JSON = 'pipeline.json';

/** Contents of config.json (and of weights/pipeline.json). */
export interface RunInfo {
  /** Built-in pipeline name or module path. */
  pipeline: string;
  /** The resolved pipeline config. */
  config: Record<string, unknown>;
  /** The resolved run options (data, epochs, batchSize, seed, backend, dataset, ...). */
  run: Record<string, unknown>;
  version: 1;
}

/** Writes `name` (JSON, 1-space indent) in `dir` atomically. */
export async function writeJsonAtomic(dir: string, name: string, value: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(dir, name, Buffer.from(`${JSON.stringify(value, null, 1)}\n`, 'utf8'));
}

function checkInfo(file: string, v: unknown): RunInfo {
  const o = v as Partial<RunInfo>;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new CheckpointError(file, 'must hold a JSON object { pipeline, config, run, version }');
  if (typeof o.pipeline !== 'string' || o.pipeline === '') throw new CheckpointError(file, "needs 'pipeline' (a built-in name or module path)");
  for (const k of ['config', 'run'] as const) {
    if (o[k] === null || typeof o[k] !== 'object' || Array.isArray(o[k])) throw new CheckpointError(file, `needs '${k}' as an object`);
  }
  if (o.version !== 1) throw new CheckpointError(file, `has version ${String(o.version)}; this build reads version 1`);
  return o as RunInfo;
}

/** Reads a JSON run-info file (config.json or pipeline.json). */
export async function readRunInfo(file: string): Promise<RunInfo> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'does not exist; is this a run folder written by contrastream run --out?' : `cannot be read (${code ?? String(err)})`, { cause: err });
  }
  try {
    return checkInfo(file, JSON.parse(text));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(file, `is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** `{ pipeline, config, run }` of a run folder (its config.json). */
export async function loadRun(runDir: string): Promise<RunInfo> {
  if (typeof runDir !== 'string' || runDir === '') throw new ArgumentError('loadRun', 'runDir', 'must be a non-empty path');
  return readRunInfo(path.resolve(runDir, CONFIG_JSON));
}

/**
 * Appends metrics to metrics.jsonl. Lines are buffered and flushed every `flushEvery` lines,
 * every `flushMs` ms, and by `flush()` (the runner flushes before each checkpoint and at the end).
 */
export class MetricsWriter {
  readonly file: string;
  private buffer: string[] = [];
  private lastFlush = Date.now();

  constructor(
    runDir: string,
    private readonly flushEvery = 50,
    private readonly flushMs = 2000,
  ) {
    mkdirSync(runDir, { recursive: true });
    this.file = path.join(runDir, METRICS_JSONL);
  }

  append(line: { type: string } & Record<string, unknown>): void {
    this.buffer.push(JSON.stringify(line));
    if (this.buffer.length >= this.flushEvery || Date.now() - this.lastFlush >= this.flushMs) this.flush();
  }

  flush(): void {
    this.lastFlush = Date.now();
    if (this.buffer.length === 0) return;
    const text = `${this.buffer.join('\n')}\n`;
    this.buffer = [];
    appendFileSync(this.file, text);
  }
}

/**
 * Before a resume from step `step`: keeps only the metrics lines up to that step (drops the
 * steps after the checkpoint, which will be trained again, and any final line).
 */
export async function truncateMetrics(runDir: string, step: number): Promise<void> {
  const file = path.join(runDir, METRICS_JSONL);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return;
  }
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let o: { type?: unknown; step?: unknown };
    try {
      o = JSON.parse(line) as { type?: unknown; step?: unknown };
    } catch {
      continue; // a line cut by a crash
    }
    if (o.type === 'final') continue;
    if (typeof o.step === 'number' && o.step > step) continue;
    kept.push(line);
  }
  await writeAtomic(runDir, METRICS_JSONL, Buffer.from(kept.length > 0 ? `${kept.join('\n')}\n` : '', 'utf8'));
}
