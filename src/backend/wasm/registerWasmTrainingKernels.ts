/**
 * Registers contrastream's training kernels on the wasm backend
 * (@tensorflow/tfjs-backend-wasm 4.22), then, where the native addon is available, the native
 * engineer's kernels over them.
 *
 * Pure-wasm kernels (src/backend/wasm/kernels/, the portable fallback): see PURE_WASM_KERNELS.
 * They are registered in place of the stock ones where those exist (unregister, then
 * register); the stock configs are remembered so that our kernels can still call them, and
 * their setupFunc is chained so that they keep working.
 *
 * Native kernels: `src/backend/native/nativeWasmKernels.ts`, owned by the native addon work,
 * exports
 *   nativeWasmKernels(config: { threads: number }):
 *     { kernels: tf.KernelConfig[]; detail: string; threads: number } | null
 * It is loaded when this module is first imported (it may not exist: then only the pure-wasm
 * set is used). The `native: false` option or CONTRASTREAM_NATIVE=0 forces the pure-wasm set.
 *
 * Must run before `tf.setBackend('wasm')`: the engine runs each kernel's setupFunc when the
 * backend is set (if the backend is already active, call `tf.setBackend('wasm')` again so the
 * new kernels' setupFuncs run). Safe to call any number of times: every call first restores the
 * stock registry for the kernels it manages, then applies the requested set.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm'; // registers the stock wasm kernels we replace and call
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rememberStockKernel } from './kernelSupport.ts';
import { CONTRASTREAM_GRADIENTS, PURE_WASM_KERNELS } from './pureWasmKernels.ts';
import { ArgumentError } from '../../errors.ts';

export interface RegisterWasmTrainingKernelsConfig {
  /** Threads the native kernels may use (the pure-wasm kernels run on one). */
  threads: number;
  /**
   * Use the native addon's kernels where available. Default true; false (or the environment
   * variable CONTRASTREAM_NATIVE=0) registers the pure-wasm set only.
   */
  native?: boolean;
  /** Environment to read CONTRASTREAM_NATIVE from (also passed to the native hook). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * Replaces the native hook (tests): a factory with nativeWasmKernels' signature, or null for
   * none. Default: `nativeWasmKernels` of src/backend/native/nativeWasmKernels.ts when present.
   */
  nativeFactory?: NativeWasmKernelsFactory | null;
}

export const DEFAULT_REGISTER_WASM_TRAINING_KERNELS_CONFIG = { native: true } as const;

export interface WasmTrainingKernelsInfo {
  /** e.g. 'wasm kernels: pure wasm (1 thread)'. */
  detail: string;
  /** Threads the heavy kernels use. */
  threads: number;
  /** Kernel names now served by contrastream (pure wasm or native). */
  kernels: string[];
  /** Whether the native set is active. */
  native: boolean;
}

/** The native hook's signature (src/backend/native/nativeWasmKernels.ts). */
export type NativeWasmKernelsFactory = (config: { threads: number; env?: Record<string, string | undefined> }) => {
  kernels: tf.KernelConfig[];
  detail: string;
  threads: number;
} | null;
type NativeFactory = NativeWasmKernelsFactory;

/** The native hook: loaded once, when this module is imported. */
const nativeHook: { factory: NativeFactory | undefined; error: string | undefined } = await loadNativeHook();

async function loadNativeHook(): Promise<{ factory: NativeFactory | undefined; error: string | undefined }> {
  // ---- NATIVE HOOK: src/backend/native/nativeWasmKernels.ts (native addon engineer) ----
  // Importing it is cheap: the addon itself is loaded when the factory is called.
  const url = new URL('../native/nativeWasmKernels.ts', import.meta.url);
  if (!existsSync(fileURLToPath(url))) return { factory: undefined, error: undefined };
  try {
    const mod = (await import(url.href)) as { nativeWasmKernels?: NativeFactory };
    if (typeof mod.nativeWasmKernels !== 'function') {
      return { factory: undefined, error: 'nativeWasmKernels.ts does not export a nativeWasmKernels function' };
    }
    return { factory: mod.nativeWasmKernels, error: undefined };
  } catch (err) {
    return { factory: undefined, error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
  }
}

/** Stock configs (or undefined: no stock kernel) of every kernel name we have registered. */
const baseline = new Map<string, tf.KernelConfig | undefined>();

function restoreBaseline(): void {
  for (const [name, config] of baseline) {
    if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
    if (config !== undefined) tf.registerKernel(config);
  }
}

function install(config: tf.KernelConfig): void {
  const name = config.kernelName;
  if (config.backendName !== 'wasm') {
    throw new ArgumentError('registerWasmTrainingKernels', 'kernels', `contains '${name}' for backend '${config.backendName}', not 'wasm'`);
  }
  if (!baseline.has(name)) {
    const stock = tf.getKernel(name, 'wasm');
    baseline.set(name, stock);
    if (stock !== undefined) rememberStockKernel(name, stock);
  }
  const stock = baseline.get(name);
  if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
  // Keep the stock kernel's setup (its cwrap'd wasm function) so that it stays callable.
  const setupFunc: tf.KernelConfig['setupFunc'] =
    (config.setupFunc ?? stock?.setupFunc) !== undefined
      ? (backend) => {
          stock?.setupFunc?.(backend);
          config.setupFunc?.(backend);
        }
      : undefined;
  tf.registerKernel({ ...config, setupFunc });
}

/**
 * Registers the training kernels (see the module comment) and returns what is active.
 * Idempotent; the last call wins.
 */
export function registerWasmTrainingKernels(config: RegisterWasmTrainingKernelsConfig): WasmTrainingKernelsInfo {
  const env = config.env ?? process.env;
  const wantNative = (config.native ?? DEFAULT_REGISTER_WASM_TRAINING_KERNELS_CONFIG.native) && env.CONTRASTREAM_NATIVE !== '0';
  if (!Number.isInteger(config.threads) || config.threads < 1) {
    throw new ArgumentError('registerWasmTrainingKernels', 'config.threads', `must be a positive integer, got ${config.threads}`);
  }
  restoreBaseline();
  for (const g of CONTRASTREAM_GRADIENTS) {
    if (tf.getGradient(g.kernelName) === undefined) tf.registerGradient(g);
  }
  for (const k of PURE_WASM_KERNELS) install(k);
  const names = new Set(PURE_WASM_KERNELS.map((k) => k.kernelName));

  let note = '';
  const factory = config.nativeFactory === undefined ? nativeHook.factory : (config.nativeFactory ?? undefined);
  const hookError = config.nativeFactory === undefined ? nativeHook.error : undefined;
  if (wantNative && factory !== undefined) {
    let native: ReturnType<NativeFactory> = null;
    try {
      native = factory({ threads: config.threads, env });
    } catch (err) {
      note = `; native kernels failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    }
    if (native !== null && native !== undefined) {
      for (const k of native.kernels) {
        install(k);
        names.add(k.kernelName);
      }
      return { detail: native.detail, threads: native.threads, kernels: [...names].sort(), native: true };
    }
  } else if (wantNative && hookError !== undefined) {
    note = `; native kernels unavailable: ${hookError}`;
  }
  return { detail: `wasm kernels: pure wasm (1 thread${note})`, threads: 1, kernels: [...names].sort(), native: false };
}
