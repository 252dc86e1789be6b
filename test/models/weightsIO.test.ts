import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useCpu, values } from './support.ts';
import { convNet6 } from '../../src/models/convNet6.ts';
import { mlpProjection } from '../../src/models/mlpProjection.ts';
import { saveWeights } from '../../src/models/saveWeights.ts';
import { loadWeights } from '../../src/models/loadWeights.ts';
import { fileSystemIO, MODEL_JSON } from '../../src/models/fileSystemIO.ts';
import { sgd } from '../../src/optim/sgd.ts';
import { adam } from '../../src/optim/adam.ts';
import { CorruptWeightsError, StateError, UnsafePathError, WeightsMismatchError } from '../../src/errors.ts';
import type { Module } from '../../src/models/module.ts';

function snapshot(m: Module): Map<string, number[]> {
  return new Map([...m.namedWeights()].map(([k, v]) => [k, values(v)]));
}

/** A model whose BN running statistics are no longer the initial 0/1. */
function trainedHead(seed: number) {
  const m = mlpProjection({ inDim: 6, hiddenDim: 5, outDim: 3, batchNorm: true, seed });
  tf.tidy(() => m.forward(tf.randomNormal([4, 6], 0, 1, 'float32', seed), { training: true }));
  return m;
}

describe('models: weights save/load (fileSystemIO)', () => {
  let root: string;
  let n = 0;
  const fresh = () => path.join(root, `ckpt${n++}`);
  beforeAll(async () => {
    await useCpu();
    root = mkdtempSync(path.join(tmpdir(), 'contrastream-io-'));
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
    rmSync(root, { recursive: true, force: true });
  });

  it('round-trips every parameter and buffer on the cpu backend; outputs match; metadata returned', async () => {
    const a = trainedHead(1);
    const b = trainedHead(2);
    expect(snapshot(b)).not.toEqual(snapshot(a));
    const dir = fresh();
    await saveWeights(a, dir, { metadata: { step: 42, method: 'simclr' } });
    const before = tf.memory().numTensors;
    const meta = await loadWeights(b, dir);
    expect(tf.memory().numTensors).toBe(before);
    expect(meta).toEqual({ step: 42, method: 'simclr' });
    expect(snapshot(b)).toEqual(snapshot(a));
    const x = tf.randomNormal([3, 6]);
    const ya = a.forward(x, { training: false });
    const yb = b.forward(x, { training: false });
    expect(values(yb)).toEqual(values(ya));
    tf.dispose([x, ya, yb]);
    a.dispose();
    b.dispose();
  });

  it('writes model.json (weightsManifest, weightSpecs) + one content-named .bin, no temp files, stale .bin removed', async () => {
    const a = trainedHead(3);
    const dir = fresh();
    await saveWeights(a, dir);
    const m1 = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
    expect(m1.weightsManifest).toHaveLength(1);
    const [bin1] = m1.weightsManifest[0].paths;
    expect(bin1).toMatch(/^weights\.[0-9a-f]{16}\.bin$/);
    expect(m1.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual([...a.namedWeights().keys()]);
    expect(readdirSync(dir).sort()).toEqual([MODEL_JSON, bin1].sort());
    // Save different weights: the old .bin goes, the manifest names the new one.
    (a.namedParameters().get('layers.0.weight') as tf.Variable).assign(tf.zeros([6, 5]));
    await saveWeights(a, dir);
    const m2 = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
    const [bin2] = m2.weightsManifest[0].paths;
    expect(bin2).not.toBe(bin1);
    expect(readdirSync(dir).sort()).toEqual([MODEL_JSON, bin2].sort());
    // tfjs itself can read the manifest.
    const artifacts = await fileSystemIO(dir).load!();
    expect(artifacts.weightSpecs).toEqual(m2.weightsManifest[0].weights);
    a.dispose();
  });

  it('round-trips on the wasm backend, and across backends (saved on cpu, loaded on wasm)', async () => {
    const onCpu = trainedHead(4);
    const cpuDir = fresh();
    await saveWeights(onCpu, cpuDir);
    const expected = snapshot(onCpu);
    onCpu.dispose();

    expect(await tf.setBackend('wasm')).toBe(true);
    try {
      const a = trainedHead(5);
      const dir = fresh();
      await saveWeights(a, dir);
      const b = trainedHead(6);
      await loadWeights(b, dir);
      expect(tf.getBackend()).toBe('wasm');
      expect(snapshot(b)).toEqual(snapshot(a));
      await loadWeights(b, cpuDir);
      expect(snapshot(b)).toEqual(expected);
      a.dispose();
      b.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('saves and restores optimizer state with the weights', async () => {
    const m = trainedHead(7);
    const opt = sgd({ lr: 0.1, momentum: 0.9 });
    const grads = [...m.namedParameters()].map(([name, variable]) => ({ name, variable, gradient: tf.onesLike(variable) }));
    opt.applyGradients(grads);
    opt.applyGradients(grads);
    const dir = fresh();
    await saveWeights(m, dir, { optimizer: opt });
    const opt2 = sgd({ lr: 0.1, momentum: 0.9 });
    const m2 = trainedHead(8);
    await loadWeights(m2, dir, { optimizer: opt2 });
    expect(opt2.iterations).toBe(2);
    expect(opt2.getState()).toEqual(opt.getState());
    expect(snapshot(m2)).toEqual(snapshot(m));
    // State of another kind of optimizer is refused before anything changes.
    const before = snapshot(m2);
    await expect(loadWeights(m2, dir, { optimizer: adam({ lr: 1 }) })).rejects.toThrow(StateError);
    expect(snapshot(m2)).toEqual(before);
    const plain = fresh();
    await saveWeights(m, plain);
    await expect(loadWeights(m2, plain, { optimizer: opt2 })).rejects.toThrow(WeightsMismatchError);
    tf.dispose(grads.map((g) => g.gradient));
    for (const x of [m, m2]) x.dispose();
    opt.dispose();
    opt2.dispose();
  });

  it('refuses manifest paths that are absolute, use .., are URLs/drive paths, or escape through a symlink', async () => {
    const a = trainedHead(9);
    const base = fresh();
    await saveWeights(a, base);
    const manifest = JSON.parse(readFileSync(path.join(base, MODEL_JSON), 'utf8'));
    const [bin] = manifest.weightsManifest[0].paths;
    const bytes = readFileSync(path.join(base, bin));
    // A valid weights file outside the model folder: only the path check can stop it.
    const outside = path.join(root, 'outside.bin');
    writeFileSync(outside, bytes);
    const evil = [
      '../outside.bin',
      'sub/../../outside.bin',
      '..\\outside.bin',
      outside,
      '/etc/passwd',
      'C:\\Windows\\win.ini',
      'file:///etc/passwd',
      'weights..bin',
      '',
    ];
    for (const p of evil) {
      const dir = fresh();
      mkdirSync(dir);
      const m = structuredClone(manifest);
      m.weightsManifest[0].paths = [p];
      delete m.contrastream;
      writeFileSync(path.join(dir, MODEL_JSON), JSON.stringify(m));
      const err = await loadWeights(a, dir).catch((e: unknown) => e);
      expect(err, p).toBeInstanceOf(UnsafePathError);
      expect((err as UnsafePathError).entry).toBe(p);
    }
    const dir = fresh();
    mkdirSync(dir);
    symlinkSync(outside, path.join(dir, 'link.bin'));
    const m = structuredClone(manifest);
    m.weightsManifest[0].paths = ['link.bin'];
    delete m.contrastream;
    writeFileSync(path.join(dir, MODEL_JSON), JSON.stringify(m));
    await expect(loadWeights(a, dir)).rejects.toThrow(/symbolic link/);
    // A subfolder inside the model folder is fine.
    const ok = fresh();
    mkdirSync(path.join(ok, 'shards'), { recursive: true });
    writeFileSync(path.join(ok, 'shards', 'w.bin'), bytes);
    m.weightsManifest[0].paths = ['shards/w.bin'];
    writeFileSync(path.join(ok, MODEL_JSON), JSON.stringify(m));
    await expect(loadWeights(a, ok)).resolves.toEqual({});
    a.dispose();
  });

  it('truncated, corrupt, missing or unparsable files give CorruptWeightsError naming the file; the module is untouched', async () => {
    const a = trainedHead(10);
    const b = trainedHead(11);
    const untouched = snapshot(b);
    const save = async () => {
      const dir = fresh();
      await saveWeights(a, dir);
      const bin = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8')).weightsManifest[0].paths[0] as string;
      return { dir, bin: path.join(dir, bin) };
    };
    const expectCorrupt = async (dir: string, file: string, pattern: RegExp) => {
      const err = await loadWeights(b, dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptWeightsError);
      expect((err as CorruptWeightsError).file).toBe(path.resolve(file));
      expect((err as Error).message).toContain(path.resolve(file));
      expect((err as Error).message).toMatch(pattern);
      expect(snapshot(b)).toEqual(untouched);
    };
    {
      const { dir, bin } = await save();
      truncateSync(bin, readFileSync(bin).byteLength - 4);
      await expectCorrupt(dir, bin, /truncated/);
    }
    {
      const { dir, bin } = await save();
      const bytes = readFileSync(bin);
      bytes[10] ^= 0xff;
      writeFileSync(bin, bytes);
      await expectCorrupt(dir, bin, /corrupt.*sha256/);
    }
    {
      // Without contrastream's checksums (a manifest written by other tools), the size check still names the file.
      const { dir, bin } = await save();
      const m = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
      delete m.contrastream;
      writeFileSync(path.join(dir, MODEL_JSON), JSON.stringify(m));
      truncateSync(bin, 8);
      await expectCorrupt(dir, bin, /truncated/);
    }
    {
      const { dir, bin } = await save();
      rmSync(bin);
      await expectCorrupt(dir, bin, /missing/);
    }
    {
      const { dir } = await save();
      writeFileSync(path.join(dir, MODEL_JSON), '{"weightsManifest": [');
      await expectCorrupt(dir, path.join(dir, MODEL_JSON), /not valid JSON/);
    }
    a.dispose();
    b.dispose();
  });

  it('weights of another architecture give WeightsMismatchError listing names and shapes; strict: false loads the common ones', async () => {
    const a = convNet6({ inChannels: 1, featureDim: 16 });
    const dir = fresh();
    await saveWeights(a, dir);
    const b = convNet6({ inChannels: 1, featureDim: 8 });
    const untouched = snapshot(b);
    await expect(loadWeights(b, dir)).rejects.toThrow(/fc\.weight: saved float32\[128,16\], module float32\[128,8\]/);
    expect(snapshot(b)).toEqual(untouched);
    const c = convNet6({ inChannels: 1, featureDim: null });
    await expect(loadWeights(c, dir)).rejects.toThrow(/unexpected: fc\.weight, fc\.bias/);
    await loadWeights(c, dir, { strict: false });
    expect(values(c.namedWeights().get('conv3.weight')!)).toEqual(values(a.namedWeights().get('conv3.weight')!));
    for (const m of [a, b, c]) m.dispose();
  });
});
