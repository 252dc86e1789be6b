/**
 * Loads contrastream's optional native kernel addon (`build/Release/contrastream_native.node`,
 * compiled from `native/` by `scripts/build-native.mjs` at `npm install`).
 *
 * The addon is optional: when it is absent (no compiler at install time, CONTRASTREAM_NATIVE=0,
 * another platform) `loadNative` returns `{ addon: null, reason }` and callers keep the stock
 * kernels. It never throws.
 *
 * Defaults: threads = CONTRASTREAM_THREADS or the number of cores.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

/** What the addon reports about itself. */
export interface NativeInfo {
  /** Instruction set the microkernels were compiled for: 'avx512', 'avx2' or 'generic'. */
  isa: string;
  /** Threads in the addon's pool (the calling thread included). */
  threads: number;
  /** Microkernel tile (rows x columns). */
  mr: number;
  nr: number;
}

/**
 * The addon's functions. Every kernel takes the wasm heap ArrayBuffer and byte offsets into it
 * (zero copy), then plain numbers; -1 marks an absent optional tensor. It throws a RangeError
 * when a range falls outside the buffer.
 */
export interface NativeAddon {
  info(): NativeInfo;
  setThreads(n: number): number;
  gemm(
    heap: ArrayBuffer, aOff: number, bOff: number, cOff: number, biasOff: number,
    M: number, N: number, K: number, lda: number, ldb: number, ldc: number,
    transA: number, transB: number, alpha: number, beta: number, act: number,
    batch?: number, strideA?: number, strideB?: number, strideC?: number,
  ): void;
  conv2d(heap: ArrayBuffer, xOff: number, wOff: number, biasOff: number, yOff: number, ...geometryAndAct: number[]): void;
  conv2dBackpropFilter(heap: ArrayBuffer, xOff: number, dyOff: number, dwOff: number, ...geometry: number[]): void;
  conv2dBackpropInput(heap: ArrayBuffer, dyOff: number, wOff: number, dxOff: number, ...geometry: number[]): void;
  batchNormTrain(
    heap: ArrayBuffer, xOff: number, gammaOff: number, betaOff: number, yOff: number, meanOff: number,
    varOff: number, rows: number, channels: number, epsilon: number, relu: number,
  ): void;
  batchNormTrainGrad(
    heap: ArrayBuffer, dyOff: number, xOff: number, gammaOff: number, betaOff: number, meanOff: number,
    varOff: number, dxOff: number, dgammaOff: number, dbetaOff: number, rows: number, channels: number,
    epsilon: number, relu: number,
  ): void;
}

export interface LoadNativeConfig {
  /** Threads for the addon's pool. Default: CONTRASTREAM_THREADS or the core count. */
  threads?: number;
  /** Environment to read CONTRASTREAM_NATIVE / CONTRASTREAM_THREADS from. Default process.env. */
  env?: Record<string, string | undefined>;
  /** Path of the .node file (tests). Default: <package>/build/Release/contrastream_native.node. */
  path?: string;
}

export type LoadNativeResult =
  | { addon: NativeAddon; path: string; isa: string; threads: number; reason?: undefined }
  | { addon: null; reason: string };

/** Default location of the compiled addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(
  new URL('../../../build/Release/contrastream_native.node', import.meta.url),
);

const require = createRequire(import.meta.url);
const loaded = new Map<string, NativeAddon>();

function threadsFrom(config: LoadNativeConfig, env: Record<string, string | undefined>): number {
  if (config.threads !== undefined) return config.threads;
  const raw = env.CONTRASTREAM_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1) return n;
  }
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/**
 * Loads the addon once per path and sets its thread count. Returns `{ addon: null, reason }`
 * instead of throwing when it cannot be used.
 */
export function loadNative(config: LoadNativeConfig = {}): LoadNativeResult {
  const env = config.env ?? process.env;
  if (env.CONTRASTREAM_NATIVE === '0') {
    return { addon: null, reason: 'native kernels disabled by CONTRASTREAM_NATIVE=0' };
  }
  const path = config.path ?? NATIVE_ADDON_PATH;
  const threads = threadsFrom(config, env);
  if (!Number.isInteger(threads) || threads < 1) {
    return { addon: null, reason: `threads must be a positive integer, got ${threads}` };
  }
  let addon = loaded.get(path);
  if (addon === undefined) {
    if (!existsSync(path)) {
      return {
        addon: null,
        reason: `native addon not built (${path} missing; run 'npm rebuild contrastream' or 'node scripts/build-native.mjs' with g++ installed)`,
      };
    }
    try {
      addon = require(path) as NativeAddon;
      const info = addon.info();
      if (typeof info?.isa !== 'string') throw new Error('info() returned no isa');
    } catch (err) {
      return { addon: null, reason: `native addon failed to load: ${err instanceof Error ? err.message : String(err)}` };
    }
    loaded.set(path, addon);
  }
  const actual = addon.setThreads(threads);
  const info = addon.info();
  return { addon, path, isa: info.isa, threads: actual };
}
