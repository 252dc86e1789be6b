/**
 * Backend selection (src/backend/initBackend.ts): the order tensorflow-gpu > tensorflow > wasm >
 * cpu, the fallback when a backend module fails to load (injected loaders that throw), the
 * `skipped` list, the printed line, the --backend / CONTRASTREAM_BACKEND override, unknown
 * names, and a forced backend that fails being an error rather than a silent fallback.
 *
 * A loader that "succeeds" for tensorflow registers a cpu backend under the name 'tensorflow',
 * standing in for @tensorflow/tfjs-node (not installed here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BACKEND_ORDER,
  activeBackend,
  defaultThreads,
  initBackend,
  parseBackendName,
  type BackendLoader,
  type BackendName,
} from '../../src/backend/initBackend.ts';
import { BackendError } from '../../src/errors.ts';

/** Loaders that record their calls; `ok` ones succeed, the others throw `reason`. */
function loaders(ok: BackendName[], calls: BackendName[]): Record<BackendName, BackendLoader> {
  const make = (name: BackendName): BackendLoader => async () => {
    calls.push(name);
    if (!ok.includes(name)) throw new Error(`Cannot find module '${name}-module'\nRequire stack: ...`);
    if (name === 'tensorflow' || name === 'tensorflow-gpu') {
      if (tf.findBackendFactory('tensorflow') === null) tf.registerBackend('tensorflow', () => new MathBackendCPU());
    }
    if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    if (name === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  };
  return { 'tensorflow-gpu': make('tensorflow-gpu'), tensorflow: make('tensorflow'), wasm: make('wasm'), cpu: make('cpu') };
}

let lines: string[];
const log = (l: string) => lines.push(l);

beforeEach(() => {
  lines = [];
  // Deterministic wasm detail: no native addon.
  vi.stubEnv('CONTRASTREAM_NATIVE', '0');
  vi.stubEnv('CONTRASTREAM_BACKEND', '');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  if (tf.findBackendFactory('tensorflow') !== null) {
    await tf.setBackend('cpu');
    tf.removeBackend('tensorflow');
  }
});

describe('initBackend', () => {
  it('tries tensorflow-gpu > tensorflow > wasm > cpu and takes the first that loads', async () => {
    expect(BACKEND_ORDER).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    const calls: BackendName[] = [];
    const info = await initBackend({ loaders: loaders(['tensorflow', 'wasm', 'cpu'], calls), log, env: { CONTRASTREAM_THREADS: '3' } });
    expect(calls).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.choice).toBe('tensorflow');
    expect(info.name).toBe('tensorflow');
    expect(info.threads).toBe(3);
    expect(tf.getBackend()).toBe('tensorflow');
    expect(info.skipped).toEqual([{ backend: 'tensorflow-gpu', reason: "Cannot find module 'tensorflow-gpu-module'" }]);
    expect(lines).toEqual(['backend: tensorflow (libtensorflow; 3 threads)']);
    expect(activeBackend()).toEqual(info);
  });

  it('falls back to wasm with the training kernels when both tfjs-node packages fail', async () => {
    const calls: BackendName[] = [];
    const info = await initBackend({ loaders: loaders(['wasm', 'cpu'], calls), log, env: {} });
    expect(calls).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm']);
    expect(info.choice).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(info.detail).toBe('wasm kernels: pure wasm (1 thread)');
    expect(lines).toEqual(['backend: wasm (wasm kernels: pure wasm (1 thread))']);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('falls back to cpu when wasm fails too, listing every skipped backend', async () => {
    const calls: BackendName[] = [];
    const info = await initBackend({ loaders: loaders(['cpu'], calls), log, env: {} });
    expect(calls).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
    expect(info.choice).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.skipped).toEqual([
      { backend: 'tensorflow-gpu', reason: "Cannot find module 'tensorflow-gpu-module'" },
      { backend: 'tensorflow', reason: "Cannot find module 'tensorflow-module'" },
      { backend: 'wasm', reason: "Cannot find module 'wasm-module'" },
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^backend: cpu \(.*; 1 thread\)$/);
  });

  it('throws a BackendError naming every failure when nothing loads', async () => {
    const calls: BackendName[] = [];
    const err = await initBackend({ loaders: loaders([], calls), log, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/no TensorFlow\.js backend could be loaded/);
    for (const b of BACKEND_ORDER) expect((err as Error).message).toContain(`${b}: Cannot find module`);
    expect(calls).toEqual([...BACKEND_ORDER]);
    expect(lines).toEqual([]);
  });

  it('honours the backend option and CONTRASTREAM_BACKEND (with aliases), trying nothing else', async () => {
    let calls: BackendName[] = [];
    let info = await initBackend({ backend: 'cpu', loaders: loaders(['tensorflow', 'wasm', 'cpu'], calls), log, env: {} });
    expect(calls).toEqual(['cpu']);
    expect(info.choice).toBe('cpu');
    expect(info.skipped).toEqual([]);

    calls = [];
    info = await initBackend({ loaders: loaders(['tensorflow', 'wasm', 'cpu'], calls), log, env: { CONTRASTREAM_BACKEND: 'wasm' } });
    expect(calls).toEqual(['wasm']);
    expect(info.choice).toBe('wasm');

    calls = [];
    info = await initBackend({ loaders: loaders(['tensorflow', 'wasm', 'cpu'], calls), log, env: { CONTRASTREAM_BACKEND: 'node' } });
    expect(calls).toEqual(['tensorflow']);
    expect(info.choice).toBe('tensorflow');

    // The option wins over the environment.
    calls = [];
    info = await initBackend({ backend: 'cpu', loaders: loaders(['tensorflow', 'wasm', 'cpu'], calls), log, env: { CONTRASTREAM_BACKEND: 'wasm' } });
    expect(calls).toEqual(['cpu']);
  });

  it('makes a forced backend that fails an error, not a fallback', async () => {
    const calls: BackendName[] = [];
    const err = await initBackend({ backend: 'gpu', loaders: loaders(['wasm', 'cpu'], calls), log, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/backend 'tensorflow-gpu' was requested but failed to load: Cannot find module/);
    expect((err as Error).message).toMatch(/npm install @tensorflow\/tfjs-node-gpu/);
    expect(calls).toEqual(['tensorflow-gpu']);
    expect(lines).toEqual([]);
  });

  it('rejects an unknown backend name, listing the valid ones', async () => {
    expect(() => parseBackendName('webgl')).toThrow(BackendError);
    expect(() => parseBackendName('webgl')).toThrow(/unknown backend 'webgl': use one of tensorflow-gpu, tensorflow, wasm, cpu/);
    const calls: BackendName[] = [];
    await expect(initBackend({ loaders: loaders(['cpu'], calls), log, env: { CONTRASTREAM_BACKEND: 'tpu' } })).rejects.toThrow(/unknown backend 'tpu'/);
    expect(calls).toEqual([]);
    expect(parseBackendName(' GPU ')).toBe('tensorflow-gpu');
    expect(parseBackendName('tfjs-node')).toBe('tensorflow');
  });

  it('prints nothing with log: null', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    await initBackend({ backend: 'cpu', log: null, loaders: loaders(['cpu'], []), env: {} });
    expect(spy).not.toHaveBeenCalled();
    await initBackend({ backend: 'cpu', loaders: loaders(['cpu'], []), env: {} });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0][0]).toMatch(/^backend: cpu /);
    spy.mockRestore();
  });
});

describe('defaultThreads', () => {
  it('reads CONTRASTREAM_THREADS, else the core count', () => {
    expect(defaultThreads({ CONTRASTREAM_THREADS: '5' })).toBe(5);
    expect(defaultThreads({})).toBeGreaterThanOrEqual(1);
    expect(() => defaultThreads({ CONTRASTREAM_THREADS: '0' })).toThrow(BackendError);
    expect(() => defaultThreads({ CONTRASTREAM_THREADS: 'two' })).toThrow(/CONTRASTREAM_THREADS='two'/);
  });
});
