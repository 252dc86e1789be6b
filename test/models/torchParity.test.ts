/**
 * Same weights, same input, PyTorch/torchvision vs contrastream: eval-mode output for every
 * encoder; for convNet6 also the training-mode output and the BN running statistics after it.
 * Runs only where /usr/bin/python3 imports torch and torchvision (Debian's python3-torch).
 *
 * Training-mode BN on tiny feature maps (n = 2 values per channel) is ill-conditioned, so the
 * ResNets are compared in training mode only with CONTRASTREAM_FULL_PARITY=1, on inputs large
 * enough for well-conditioned batch statistics (slow on the cpu backend: ~1-2 min).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { useCpu, randomArray, expectClose } from './support.ts';
import { convNet6 } from '../../src/models/convNet6.ts';
import { resnet18, resnet50 } from '../../src/models/resnet.ts';
import { saveWeights } from '../../src/models/saveWeights.ts';
import type { Module } from '../../src/models/module.ts';

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
const full = process.env.CONTRASTREAM_FULL_PARITY === '1';
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_parity.py');

interface Case {
  name: string;
  build: () => Module;
  model: string;
  stem: string;
  featureDim: number | null;
  shape: [number, number, number, number];
  train: boolean;
}

const CASES: Case[] = [
  { name: 'convNet6, 1 channel, dense 16 (eval + train + running stats)', build: () => convNet6({ inChannels: 1, featureDim: 16, seed: 3 }), model: 'convNet6', stem: '-', featureDim: 16, shape: [3, 9, 9, 1], train: true },
  { name: 'resnet18, CIFAR stem, fc 8', build: () => resnet18({ stem: 'cifar', featureDim: 8, seed: 4 }), model: 'resnet18', stem: 'cifar', featureDim: 8, shape: full ? [4, 16, 16, 3] : [2, 8, 8, 3], train: full },
  { name: 'resnet18, ImageNet stem, pooled 512', build: () => resnet18({ stem: 'imagenet', seed: 5 }), model: 'resnet18', stem: 'imagenet', featureDim: null, shape: full ? [4, 64, 64, 3] : [2, 23, 19, 3], train: full },
  { name: 'resnet50, ImageNet stem, pooled 2048', build: () => resnet50({ stem: 'imagenet', seed: 6 }), model: 'resnet50', stem: 'imagenet', featureDim: null, shape: full ? [3, 64, 56, 3] : [2, 16, 16, 3], train: full },
];

interface Reference {
  params: number;
  eval: number[];
  train?: number[];
  running?: Record<string, number[]>;
}

describe.skipIf(!hasTorch)('models: parity with PyTorch/torchvision', () => {
  let dir: string;
  const refs: Reference[] = [];
  const models: Module[] = [];

  /** Weights after randomising every BN vector, so BN affine and running stats matter. */
  function prepare(c: Case): Module {
    const model = c.build();
    let k = 100;
    for (const [name, v] of model.namedWeights()) {
      if (v.rank !== 1) continue;
      const vals = randomArray(v.size, k++, 0.2);
      const off = name.endsWith('running_var') || name.endsWith('weight') ? 1 : 0;
      v.assign(tf.tensor1d(vals.map((x) => x + off)));
    }
    return model;
  }
  const input = (c: Case) => randomArray(c.shape.reduce((a, b) => a * b, 1), 9);

  beforeAll(async () => {
    await useCpu();
    dir = mkdtempSync(path.join(tmpdir(), 'contrastream-parity-'));
    const jobs = [];
    for (const [i, c] of CASES.entries()) {
      const model = prepare(c);
      models.push(model);
      const sub = path.join(dir, `m${i}`);
      await saveWeights(model, sub);
      const file = path.join(dir, `x${i}.bin`);
      writeFileSync(file, Buffer.from(input(c).buffer));
      jobs.push({ dir: sub, input: file, model: c.model, stem: c.stem, featureDim: c.featureDim, shape: c.shape, train: c.train });
    }
    writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(jobs));
    const run = spawnSync(PYTHON, [script, path.join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (run.status !== 0) throw new Error(`torch_parity.py failed: ${run.stderr}`);
    refs.push(...(JSON.parse(run.stdout) as Reference[]));
  }, 120_000);
  afterAll(() => {
    for (const m of models) m.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [i, c] of CASES.entries()) {
    it(c.name, () => {
      const ref = refs[i];
      const model = models[i];
      expect(model.numParameters()).toBe(ref.params);
      const x = tf.tensor4d(input(c), c.shape);
      const yEval = model.forward(x, { training: false });
      expectClose(yEval.dataSync(), ref.eval, 1e-4, 'eval-mode output');
      if (c.train) {
        const yTrain = model.forward(x, { training: true });
        expectClose(yTrain.dataSync(), ref.train!, 5e-4, 'train-mode output');
        const weights = model.namedWeights();
        for (const [name, vals] of Object.entries(ref.running!)) expectClose(weights.get(name)!.dataSync(), vals, 1e-4, name);
        yTrain.dispose();
      }
      tf.dispose([x, yEval]);
    });
  }
});
