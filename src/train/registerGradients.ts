/**
 * Registers tfjs-core's gradient functions, which a training step needs.
 *
 * tfjs-core 4 ships its gradients only in its ESM build (dist/register_all_gradients.js); the
 * @tensorflow/tfjs bundle loads them, tfjs-core alone does not, and its CommonJS bundle (what
 * Node loads for `@tensorflow/tfjs-core`) has none. That ESM build uses extensionless relative
 * imports, which Node's ESM loader refuses. Under vitest (which transforms it) a plain import
 * works; for Node/tsx this function first registers a narrow resolve hook
 * (node:module `register`) that appends '.js' to extensionless relative imports made from
 * inside tfjs-core/dist, and nothing else. Gradient functions and kernels live in global
 * registries shared by both builds, so the gradients apply to the tensors of the main build.
 *
 * It also installs tfjs' chained tensor methods (`x.reshape()`…), which some gradient
 * functions call. Idempotent; 1–3 s the first time. `trainStepAsync` calls it; call it once before
 * `trainStep`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { register } from 'node:module';
import { ContrastreamError } from '../errors.ts';

const HOOK = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent !== undefined && parent.includes('/@tensorflow/tfjs-core/dist/') &&
      (specifier.startsWith('./') || specifier.startsWith('../')) && !/\\.[cm]?js$/.test(specifier)) {
    const url = new URL(specifier + '.js', parent);
    if (existsSync(fileURLToPath(url))) return next(url.href, context);
  }
  return next(specifier, context);
}`;

/** Kernels whose gradients every contrastream model needs; all present ⇒ registered. */
const PROBES = ['Conv2D', 'FusedBatchNorm', 'Mean', 'BatchMatMul', 'Relu', 'Add', 'Prod'];

/** Whether tfjs gradient functions (and the chained methods they use) are registered. */
export function gradientsRegistered(): boolean {
  return PROBES.every((k) => tf.getGradient(k) !== undefined) && typeof (tf.Tensor.prototype as { reshape?: unknown }).reshape === 'function';
}

let loading: Promise<void> | undefined;
let hookRegistered = false;

export function registerGradients(): Promise<void> {
  if (gradientsRegistered()) return Promise.resolve();
  loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw new ContrastreamError(
      `registerGradients: could not load tfjs-core's gradient functions (${err instanceof Error ? err.message.split('\n')[0] : String(err)}). ` +
        `Import '@tensorflow/tfjs-core/dist/register_all_gradients' yourself, or load @tensorflow/tfjs.`,
      { cause: err },
    );
  });
  return loading;
}

async function load(): Promise<void> {
  if (!hookRegistered) {
    // Before the first import: a failed resolution inside a module graph stays cached.
    register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
    hookRegistered = true;
  }
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  // Some gradient functions (Prod's, for one) call chained methods such as `x.reshape(...)`,
  // which tfjs-core alone does not install on Tensor.prototype.
  await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
  if (!gradientsRegistered()) throw new Error('the module loaded but registered no gradients');
}
