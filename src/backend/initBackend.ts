/**
 * Backend selection. contrastream trains on the fastest TensorFlow.js backend that loads,
 * in this order:
 *
 *   tensorflow-gpu (@tensorflow/tfjs-node-gpu) > tensorflow (@tensorflow/tfjs-node)
 *     > wasm (@tensorflow/tfjs-backend-wasm + contrastream's training kernels) > cpu
 *
 * Both tfjs-node packages are optional dependencies: their install script downloads
 * libtensorflow, which fails where the network is closed, and npm tolerates a failed
 * optional package. The choice can be forced with `--backend NAME` (CLI) or the
 * `CONTRASTREAM_BACKEND` environment variable; a forced backend that fails to load is an
 * error, not a silent fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { BackendError } from '../errors.ts';

/** Names accepted by `--backend` and `CONTRASTREAM_BACKEND`. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Preference order, fastest first. */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const ALIASES: Record<string, BackendName> = {
  gpu: 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  'tfjs-node-gpu': 'tensorflow-gpu',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** Loads the module that registers one backend. Injected in tests to simulate failures. */
export type BackendLoader = () => Promise<unknown>;

export interface InitBackendConfig {
  /** Force one backend (an alias such as `gpu`, `node`, `wasm`, `cpu` is accepted). */
  backend?: string;
  /**
   * Environment to read `CONTRASTREAM_BACKEND` and `CONTRASTREAM_THREADS` from.
   * Default `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** Where to print the "backend: ..." line; `null` prints nothing. Default `console.error`. */
  log?: ((line: string) => void) | null;
  /** Replace the module loaders (tests). */
  loaders?: Partial<Record<BackendName, BackendLoader>>;
  /** Register contrastream's wasm training kernels (default true). */
  trainingKernels?: boolean;
}

export interface BackendInfo {
  /** tfjs backend name as registered (`tensorflow`, `wasm`, `cpu`). */
  name: string;
  /** The contrastream name of the choice. */
  choice: BackendName;
  /** Threads the heavy kernels use. */
  threads: number;
  /** Human-readable detail, e.g. which kernel set is active. */
  detail: string;
  /** Backends that were tried and failed before this one, with the reason. */
  skipped: { backend: BackendName; reason: string }[];
}

/** Parses a backend name or alias; throws a BackendError listing the valid names. */
export function parseBackendName(name: string): BackendName {
  const key = name.trim().toLowerCase();
  const found = ALIASES[key];
  if (found === undefined) {
    throw new BackendError(
      `unknown backend '${name}': use one of ${BACKEND_ORDER.join(', ')} (aliases: gpu, node)`,
    );
  }
  return found;
}

const DEFAULT_LOADERS: Record<BackendName, BackendLoader> = {
  'tensorflow-gpu': () => import('@tensorflow/tfjs-node-gpu' as string),
  tensorflow: () => import('@tensorflow/tfjs-node' as string),
  wasm: () => import('@tensorflow/tfjs-backend-wasm'),
  cpu: () => import('@tensorflow/tfjs-backend-cpu'),
};

/** tfjs registers both tfjs-node packages under the same backend name. */
function tfjsName(choice: BackendName): string {
  return choice === 'tensorflow-gpu' ? 'tensorflow' : choice;
}

let active: BackendInfo | undefined;

/** The backend chosen by the last successful `initBackend`, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}

/** Threads for contrastream's native kernels: CONTRASTREAM_THREADS or the core count. */
export function defaultThreads(env: Record<string, string | undefined> = process.env): number {
  const raw = env.CONTRASTREAM_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new BackendError(`CONTRASTREAM_THREADS='${raw}' is not a positive integer`);
    }
    return n;
  }
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

async function tryBackend(
  choice: BackendName,
  loader: BackendLoader,
  trainingKernels: boolean,
  env: Record<string, string | undefined>,
): Promise<Omit<BackendInfo, 'skipped'>> {
  await loader();
  let detail = '';
  let threads = 1;
  if (choice === 'wasm') {
    if (trainingKernels) {
      const { registerWasmTrainingKernels } = await import('./wasm/registerWasmTrainingKernels.ts');
      const kernels = registerWasmTrainingKernels({ threads: defaultThreads(env) });
      detail = kernels.detail;
      threads = kernels.threads;
    } else {
      detail = 'stock tfjs-backend-wasm kernels (cannot train CNNs)';
    }
  } else if (choice === 'cpu') {
    detail = 'pure JavaScript kernels (slow; for reference and tests)';
  } else {
    detail = 'libtensorflow';
    threads = defaultThreads(env);
  }
  const ok = await tf.setBackend(tfjsName(choice));
  if (!ok) throw new BackendError(`tf.setBackend('${tfjsName(choice)}') returned false`);
  await tf.ready();
  if (tf.getBackend() !== tfjsName(choice)) {
    throw new BackendError(`backend '${tfjsName(choice)}' did not become active (got '${tf.getBackend()}')`);
  }
  return { name: tf.getBackend(), choice, threads, detail };
}

/**
 * Picks and activates a backend. Without a forced choice it tries each backend in
 * `BACKEND_ORDER` and takes the first that loads; the ones that failed are listed in
 * `skipped`. Prints one line, e.g. `backend: wasm (native kernels avx512, 2 threads)`.
 */
export async function initBackend(config: InitBackendConfig = {}): Promise<BackendInfo> {
  const env = config.env ?? process.env;
  const log = config.log === undefined ? (l: string) => console.error(l) : config.log;
  const loaders = { ...DEFAULT_LOADERS, ...config.loaders };
  const forcedRaw = config.backend ?? env.CONTRASTREAM_BACKEND;
  const forced = forcedRaw !== undefined && forcedRaw !== '' ? parseBackendName(forcedRaw) : undefined;
  const candidates = forced !== undefined ? [forced] : BACKEND_ORDER;
  const skipped: BackendInfo['skipped'] = [];
  for (const choice of candidates) {
    try {
      const info = await tryBackend(choice, loaders[choice], config.trainingKernels ?? true, env);
      active = { ...info, skipped };
      const threads = /thread/.test(info.detail) ? '' : `; ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
      log?.(`backend: ${info.choice} (${info.detail}${threads})`);
      return active;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      if (forced !== undefined) {
        throw new BackendError(
          `backend '${choice}' was requested but failed to load: ${reason}. ` +
            `Remove --backend/CONTRASTREAM_BACKEND to fall back automatically, or install it ` +
            `(${choice.startsWith('tensorflow') ? 'npm install @tensorflow/tfjs-node' + (choice === 'tensorflow-gpu' ? '-gpu' : '') : 'check node_modules'}).`,
          { cause: err },
        );
      }
      skipped.push({ backend: choice, reason });
    }
  }
  throw new BackendError(
    `no TensorFlow.js backend could be loaded: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`,
  );
}
