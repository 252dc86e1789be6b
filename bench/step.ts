/**
 * `npm run bench:step` — one SGD step of a contrastive loss on the active backend, against
 * PyTorch running the identical network, batch and loss in the same run.
 *
 *   network            batch  input      loss
 *   6-conv CNN (cnn6)    64   32x32x3    NT-Xent (tau 0.5) over B/2 pairs, 128-d
 *   ResNet-18-CIFAR     128   32x32x3    same
 *
 * SGD momentum 0.9, weight decay 5e-4, lr 0.05; BN in training mode. Prints ms/step (median
 * after warm-up), img/s, and tfjs/PyTorch when `/usr/bin/python3` can import torch
 * (Debian's python3-torch; run with torch.set_num_threads(2)). Also checks that
 * tf.memory().numTensors is the same after step 10 and after the last step.
 *
 * Options: --backend NAME, --models cnn6,resnet18, --steps N (default 30 for cnn6, 8 for
 * resnet18), --leak-steps N (default 100, cnn6 only), --no-torch, --torch-threads N.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/initBackend.ts';
import { convNet6 } from '../src/models/convNet6.ts';
import { resnet18 } from '../src/models/resnet.ts';
import type { Module } from '../src/models/module.ts';
import { ntXentLoss } from '../src/losses/ntXentLoss.ts';
import { sgd } from '../src/optim/sgd.ts';
import { registerGradients } from '../src/train/registerGradients.ts';
import { trainStep } from '../src/train/trainStep.ts';
import { parseArgs, intFlag } from '../src/cli/parseArgs.ts';

const { flags } = parseArgs(
  process.argv.slice(2),
  {
    backend: { type: 'string', help: 'backend' },
    models: { type: 'string', help: 'comma list' },
    steps: { type: 'string', help: 'timed steps' },
    'leak-steps': { type: 'string', help: 'steps of the leak check' },
    'no-torch': { type: 'boolean', help: 'skip PyTorch' },
    'torch-threads': { type: 'string', help: 'PyTorch threads' },
  },
  'bench:step',
);

const info = await initBackend({ backend: flags.backend as string | undefined, log: (l) => console.log(l) });
await registerGradients();

interface Case {
  key: 'cnn6' | 'resnet18';
  torchName: string;
  batch: number;
  steps: number;
  build: () => Module;
}
const stepsFlag = intFlag(flags, 'steps', 'bench:step');
const cases: Case[] = [
  { key: 'cnn6', torchName: 'cnn6', batch: 64, steps: stepsFlag ?? 30, build: () => convNet6({ inChannels: 3, featureDim: 128 }) },
  {
    key: 'resnet18',
    torchName: 'resnet18cifar',
    batch: 128,
    steps: stepsFlag ?? 8,
    build: () => resnet18({ stem: 'cifar', featureDim: 128 }),
  },
];
const wanted = String(flags.models ?? 'cnn6,resnet18').split(',');
const leakSteps = intFlag(flags, 'leak-steps', 'bench:step') ?? 100;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function torchReference(c: Case): number | undefined {
  if (flags['no-torch']) return undefined;
  const script = fileURLToPath(new URL('./step_torch.py', import.meta.url));
  const threads = String(flags['torch-threads'] ?? 2);
  const r = spawnSync(
    '/usr/bin/python3',
    [script, '--model', c.torchName, '--batch', String(c.batch), '--steps', String(c.steps), '--threads', threads],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) {
    console.log(`  PyTorch reference unavailable (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!).ms_per_step as number;
}

for (const c of cases.filter((x) => wanted.includes(x.key))) {
  const model = c.build();
  const opt = sgd({ lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = tf.randomNormal([c.batch, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const half = c.batch / 2;
  const lossFn = () => {
    const z = model.forward(x, { training: true }) as tf.Tensor2D; // [B, 128]
    const [z1, z2] = tf.split(z, [half, half], 0) as [tf.Tensor2D, tf.Tensor2D]; // [B/2, 128] x2
    return ntXentLoss(z1, z2, { temperature: 0.5 });
  };
  const warmup = 3;
  const times: number[] = [];
  let tensorsAt10 = -1;
  const total = Math.max(warmup + c.steps, c.key === 'cnn6' ? leakSteps : 0);
  let lastLoss = NaN;
  for (let s = 1; s <= total; s++) {
    const t0 = performance.now();
    lastLoss = trainStep({ params: model, lossFn, optimizer: opt });
    const dt = performance.now() - t0;
    if (s > warmup && times.length < c.steps) times.push(dt);
    if (s === 10) tensorsAt10 = tf.memory().numTensors;
  }
  const tensorsEnd = tf.memory().numTensors;
  const ms = median(times);
  console.log(
    `${c.key} batch ${c.batch}: ${ms.toFixed(1)} ms/step, ${((c.batch * 1000) / ms).toFixed(0)} img/s ` +
      `(${info.choice}, median of ${times.length} steps, final loss ${lastLoss.toFixed(4)})`,
  );
  if (tensorsAt10 >= 0) {
    console.log(`  tensors after step 10: ${tensorsAt10}, after step ${total}: ${tensorsEnd} ${tensorsAt10 === tensorsEnd ? '(flat)' : '(LEAK)'}`);
  }
  const ref = torchReference(c);
  if (ref !== undefined) {
    console.log(`  PyTorch: ${ref.toFixed(1)} ms/step -> ratio tfjs/PyTorch = ${(ms / ref).toFixed(2)}`);
  }
  x.dispose();
  model.dispose();
  opt.dispose?.();
}
