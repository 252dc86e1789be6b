/**
 * The optional native addon: loader fallbacks (disabled, missing, broken file), what a loaded
 * addon reports, and the install script's behaviour (never fails: skipped, or no compiler).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/backend/native/loadNative.ts';
import { nativeWasmKernels } from '../../src/backend/native/nativeWasmKernels.ts';
import { skipReason } from './nativeSupport.ts';

const script = fileURLToPath(new URL('../../scripts/build-native.mjs', import.meta.url));

describe('loadNative', () => {
  it('returns null with a reason when disabled by CONTRASTREAM_NATIVE=0', () => {
    const r = loadNative({ env: { CONTRASTREAM_NATIVE: '0' } });
    expect(r.addon).toBeNull();
    expect(r.reason).toMatch(/CONTRASTREAM_NATIVE=0/);
    expect(nativeWasmKernels({ threads: 1, env: { CONTRASTREAM_NATIVE: '0' } })).toBeNull();
  });

  it('returns null with a reason when the addon file is missing or broken', () => {
    const missing = loadNative({ path: '/nonexistent/contrastream_native.node', env: {} });
    expect(missing.addon).toBeNull();
    expect(missing.reason).toMatch(/not built/);
    const dir = mkdtempSync(join(tmpdir(), 'cs-native-'));
    try {
      const bogus = join(dir, 'bogus.node');
      writeFileSync(bogus, 'not an ELF file');
      const broken = loadNative({ path: bogus, env: {} });
      expect(broken.addon).toBeNull();
      expect(broken.reason).toMatch(/failed to load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  (skipReason === undefined ? it : it.skip)('reports its ISA and the requested thread count', () => {
    const r = loadNative({ threads: 1, env: {} });
    if (r.addon === null) throw new Error(r.reason);
    expect(['avx512', 'avx2', 'generic']).toContain(r.isa);
    expect(r.threads).toBe(1);
    const k = nativeWasmKernels({ threads: 2, env: {} });
    expect(k?.threads).toBe(2);
    expect(k?.kernels.map((c) => c.kernelName)).toEqual(
      expect.arrayContaining(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'ContrastreamBatchNormTrain']),
    );
    expect(k?.detail).toContain(r.isa);
  });
});

describe('scripts/build-native.mjs (the install script)', () => {
  it('skips the build and exits 0 with CONTRASTREAM_NATIVE=0', () => {
    const r = spawnSync(process.execPath, [script], { env: { ...process.env, CONTRASTREAM_NATIVE: '0' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/skipped/);
  });

  it('exits 0 with one explanatory line when no C++ compiler is on the PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-nocc-'));
    try {
      symlinkSync(process.execPath, join(dir, 'node'));
      const env: Record<string, string> = { PATH: dir, HOME: tmpdir() };
      const r = spawnSync(join(dir, 'node'), [script], { env, encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toMatch(/not built: no C\+\+ compiler/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
