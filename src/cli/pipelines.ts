/** Built-in pipelines, by name. Loaded lazily so `contrastream list` stays fast. */
import type { PipelineDefinition } from '../pipeline/PipelineDefinition.ts';

type Loader = () => Promise<{ default: PipelineDefinition<object> }>;

export const BUILTIN_PIPELINES: Record<string, Loader> = {
  simclr: () => import('../../pipelines/simclr.ts') as Promise<{ default: PipelineDefinition<object> }>,
  instdisc: () => import('../../pipelines/instdisc.ts') as Promise<{ default: PipelineDefinition<object> }>,
  invaspread: () => import('../../pipelines/invaspread.ts') as Promise<{ default: PipelineDefinition<object> }>,
  moco: () => import('../../pipelines/moco.ts') as Promise<{ default: PipelineDefinition<object> }>,
  cpc: () => import('../../pipelines/cpc.ts') as Promise<{ default: PipelineDefinition<object> }>,
  cmc: () => import('../../pipelines/cmc.ts') as Promise<{ default: PipelineDefinition<object> }>,
  temporal: () => import('../../pipelines/temporal.ts') as Promise<{ default: PipelineDefinition<object> }>,
};

export async function loadBuiltin(name: string): Promise<PipelineDefinition<object> | undefined> {
  const load = Object.hasOwn(BUILTIN_PIPELINES, name) ? BUILTIN_PIPELINES[name] : undefined;
  return load === undefined ? undefined : (await load()).default;
}
