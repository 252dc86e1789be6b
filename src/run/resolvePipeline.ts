/**
 * Finds the pipeline definition a run folder names: a built-in name (simclr, moco, ...) or the
 * path of a `.ts`/`.js`/`.mjs` module whose default export (or `pipeline` export) is a
 * definition. Relative module paths resolve against `baseDir` (default: the working folder).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ArgumentError } from '../errors.ts';
import { BUILTIN_PIPELINES, loadBuiltin } from '../cli/pipelines.ts';
import type { PipelineDefinition } from '../pipeline/PipelineDefinition.ts';

export type PipelineResolver = (pipeline: string) => Promise<PipelineDefinition<object>>;

function isDefinition(x: unknown): x is PipelineDefinition<object> {
  const d = x as PipelineDefinition<object>;
  return d !== null && typeof d === 'object' && typeof d.name === 'string' && typeof d.create === 'function' && typeof d.defaults === 'object';
}

export async function resolvePipeline(pipeline: string, baseDir = process.cwd()): Promise<PipelineDefinition<object>> {
  const builtin = await loadBuiltin(pipeline);
  if (builtin !== undefined) return builtin;
  if (!/\.(ts|js|mjs|mts)$/.test(pipeline)) {
    throw new ArgumentError('resolvePipeline', 'pipeline', `'${pipeline}' is neither a built-in pipeline (${Object.keys(BUILTIN_PIPELINES).join(', ')}) nor a .ts/.js module path`);
  }
  const mod = (await import(pathToFileURL(path.resolve(baseDir, pipeline)).href)) as { default?: unknown; pipeline?: unknown };
  const def = isDefinition(mod.default) ? mod.default : isDefinition(mod.pipeline) ? mod.pipeline : undefined;
  if (def === undefined) throw new ArgumentError('resolvePipeline', 'pipeline', `module '${pipeline}' exports no pipeline definition (default export or 'pipeline')`);
  return def;
}
