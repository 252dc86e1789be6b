/**
 * Turns the `<pipeline>` argument of `contrastream run` into a pipeline definition:
 *
 * - a built-in name (`simclr`, `moco`, ... — see `contrastream list`);
 * - a `.ts` / `.mts` / `.js` / `.mjs` module whose default export (or `pipeline` export) is a
 *   `PipelineDefinition` (this runs the module's code: it is your code);
 * - a declarative `.json` / `.yaml` / `.yml` file (definitionSchema.ts): validated data that
 *   names a built-in pipeline; nothing in it is executed, and the only module it can cause to
 *   be imported is that built-in.
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ContrastreamError } from '../errors.ts';
import type { PipelineDefinition } from '../pipeline/PipelineDefinition.ts';
import { BUILTIN_PIPELINES, loadBuiltin } from './pipelines.ts';
import { readDefinitionFile, type DeclarativeDefinition } from './definitionSchema.ts';
import { UsageError } from './parseArgs.ts';

/** A pipeline module does not export a usable definition. */
export class PipelineModuleError extends ContrastreamError {}

export interface ResolvedPipeline {
  def: PipelineDefinition<object>;
  /** What config.json records: the built-in name, or the module's absolute path. */
  ref: string;
  kind: 'builtin' | 'module' | 'declarative';
  /** The declarative file's validated contents (kind 'declarative'). */
  file?: DeclarativeDefinition;
}

const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
const DECLARATIVE_EXTENSIONS = ['.json', '.yaml', '.yml'];

/** Checks that a module export looks like a PipelineDefinition; names what is missing. */
export function checkDefinitionExport(value: unknown, source: string): PipelineDefinition<object> {
  const d = value as Partial<PipelineDefinition<object>> | undefined;
  const missing: string[] = [];
  if (typeof d !== 'object' || d === null) throw new PipelineModuleError(`${source}: has no default export (or 'pipeline' export) holding a pipeline definition. Export one made with definePipeline({...}).`);
  if (typeof d.name !== 'string' || d.name.length === 0) missing.push("'name' (string)");
  if (typeof d.defaults !== 'object' || d.defaults === null || Array.isArray(d.defaults)) missing.push("'defaults' (object)");
  if (typeof d.create !== 'function') missing.push("'create' (function)");
  if (missing.length > 0) throw new PipelineModuleError(`${source}: the exported pipeline definition lacks ${missing.join(', ')}. See src/pipeline/PipelineDefinition.ts.`);
  return { paper: '', summary: '', ...d } as PipelineDefinition<object>;
}

/** Imports a pipeline module by path (your own code; it runs). */
export async function importPipelineModule(path: string): Promise<PipelineDefinition<object>> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UsageError(`pipeline module '${abs}' does not exist`);
  let mod: { default?: unknown; pipeline?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as typeof mod;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_REQUIRE_CYCLE_MODULE' || code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') {
      // A .ts/.js file outside an ESM package is loaded as CommonJS, which cannot import
      // contrastream's ES modules.
      throw new PipelineModuleError(
        `${abs}: was loaded as CommonJS (${code}). Name it .mts / .mjs, or put a package.json with {"type": "module"} in its folder.`,
        { cause: err },
      );
    }
    throw err;
  }
  return checkDefinitionExport(mod.default ?? mod.pipeline, abs);
}

async function builtinDefaults(name: string): Promise<object | undefined> {
  return Object.hasOwn(BUILTIN_PIPELINES, name) ? (await loadBuiltin(name))?.defaults : undefined;
}

export async function resolvePipeline(arg: string): Promise<ResolvedPipeline> {
  const ext = extname(arg).toLowerCase();
  if (DECLARATIVE_EXTENSIONS.includes(ext)) {
    const file = await readDefinitionFile(arg, builtinDefaults);
    const def = await loadBuiltin(file.pipeline);
    if (def === undefined) throw new UsageError(`unknown pipeline '${file.pipeline}'`); // validated already
    return { def, ref: file.pipeline, kind: 'declarative', file };
  }
  if (MODULE_EXTENSIONS.includes(ext)) {
    const abs = resolve(arg);
    return { def: await importPipelineModule(abs), ref: abs, kind: 'module' };
  }
  if (Object.hasOwn(BUILTIN_PIPELINES, arg)) {
    const def = await loadBuiltin(arg);
    if (def !== undefined) return { def, ref: arg, kind: 'builtin' };
  }
  throw new UsageError(
    `unknown pipeline '${arg}'. Give a built-in name (${Object.keys(BUILTIN_PIPELINES).join(', ')}), ` +
      `a .ts/.js module exporting a pipeline definition, or a .json/.yaml pipeline file.`,
  );
}

/** Loads the pipeline recorded in a run's config.json: a built-in name or a module path. */
export async function loadRecordedPipeline(ref: string): Promise<PipelineDefinition<object>> {
  if (Object.hasOwn(BUILTIN_PIPELINES, ref)) {
    const def = await loadBuiltin(ref);
    if (def !== undefined) return def;
  }
  if (MODULE_EXTENSIONS.includes(extname(ref).toLowerCase())) return importPipelineModule(ref);
  throw new UsageError(`the run names pipeline '${ref}', which is neither built in (${Object.keys(BUILTIN_PIPELINES).join(', ')}) nor a module path`);
}
