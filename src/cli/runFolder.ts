/**
 * Reads what a run folder (or a bare weights folder) records about its run: `config.json` in a
 * run folder, `pipeline.json` beside saved weights. Same fields in both:
 * `{ pipeline, config, run, version }`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './parseArgs.ts';

export interface RecordedRun {
  /** Built-in name or module path. */
  pipeline: string;
  config: Record<string, unknown>;
  run: Record<string, unknown>;
  /** The file it came from. */
  file: string;
  /** True for a run folder (config.json), false for a weights folder (pipeline.json). */
  isRunFolder: boolean;
}

export function readRunConfig(dir: string): RecordedRun {
  const candidates: [string, boolean][] = [
    [join(dir, 'config.json'), true],
    [join(dir, 'pipeline.json'), false],
  ];
  for (const [file, isRunFolder] of candidates) {
    if (!existsSync(file)) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${file} is not valid JSON (${(err as Error).message}); the run folder is damaged`);
    }
    const r = raw as Partial<RecordedRun>;
    if (typeof r !== 'object' || r === null || typeof r.pipeline !== 'string') {
      throw new UsageError(`${file} does not name its pipeline ('pipeline' field); the run folder is damaged`);
    }
    return { pipeline: r.pipeline, config: (r.config ?? {}) as Record<string, unknown>, run: (r.run ?? {}) as Record<string, unknown>, file, isRunFolder };
  }
  throw new UsageError(`'${dir}' is neither a run folder (no config.json) nor a weights folder (no pipeline.json). Pass the --out folder of a run, or its weights/ folder.`);
}
