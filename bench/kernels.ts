/**
 * Benchmarks contrastream's native wasm-backend kernels against the stock tfjs-backend-wasm
 * kernels in the same run, and against PyTorch when /usr/bin/python3 has torch.
 *
 *   npm run bench:kernels -- [--only gemm,conv,step] [--steps 10] [--threads N] [--no-stock] [--no-torch]
 *
 * Prints:
 *  - SGEMM GFLOP/s (tf.matMul on wasm: native vs stock),
 *  - Conv2D forward / backprop-filter / backprop-input GFLOP/s for the six reference layers
 *    (batch 64, 32x32x3 input, 3x3 convs 32, 32, 64/2, 64, 128/2, 128),
 *  - ms per training step of that 6-conv CNN (+ fused BN + ReLU, global average pooling,
 *    dense 128, NT-Xent loss at temperature 0.5, SGD momentum 0.9 with weight decay 5e-4):
 *    wasm + native kernels, stock wasm (which cannot train: no Conv2DBackpropFilter), the
 *    pure-wasm kernels of src/backend/wasm (in a child process), and PyTorch
 *    (bench/step_torch_cnn.py, 2 threads).
 *
 * Medians (and, for the step, minima) over the timed repetitions, after warm-up.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerGradients } from '../src/train/registerGradients.ts';
import { batchNormTraining } from '../src/ops/batchNormTraining.ts';
import {
  nativeWasmKernels,
  registerKernelConfigs,
  batchNormTrainFallbackKernels,
} from '../src/backend/native/nativeWasmKernels.ts';
import { defaultThreads } from '../src/backend/initBackend.ts';

// ------------------------------------------------------------------------------------------------
// Options
const argv = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}
const only = new Set(argv.includes('--pure-wasm-step') ? [] : (opt('only') ?? 'gemm,conv,step').split(','));
const steps = Number(opt('steps') ?? 10);
const threads = Number(opt('threads') ?? defaultThreads());
const withStock = !argv.includes('--no-stock');
const withTorch = !argv.includes('--no-torch');
/** Child mode: time the step on the pure-wasm kernels (src/backend/wasm) and print one JSON line. */
const pureWasmChild = argv.includes('--pure-wasm-step');

// ------------------------------------------------------------------------------------------------
// Kernel sets: stock (as registered by tfjs-backend-wasm) and native.
if (pureWasmChild) {
  const { registerWasmTrainingKernels } = await import('../src/backend/wasm/registerWasmTrainingKernels.ts');
  registerWasmTrainingKernels({ threads: 1, native: false });
}
const names = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', '_FusedMatMul'];
const stock = new Map<string, tf.KernelConfig | undefined>(names.map((n) => [n, tf.getKernel(n, 'wasm')]));
const native = pureWasmChild ? { kernels: [], detail: 'pure wasm', threads: 1 } : nativeWasmKernels({ threads });
if (native === null) {
  console.log('native addon not available: build it with `node scripts/build-native.mjs`');
  process.exit(1);
}
const bnJs = batchNormTrainFallbackKernels().filter((k) => k.backendName === 'wasm');
await tf.setBackend('wasm');
await registerGradients();
if (!pureWasmChild) console.log(`backend wasm; ${native.detail}; ${native.threads} threads`);

function useNative(): void {
  registerKernelConfigs(native!.kernels);
}
function useStock(): void {
  for (const [name, cfg] of stock) {
    if (tf.getKernel(name, 'wasm') !== undefined) tf.unregisterKernel(name, 'wasm');
    if (cfg !== undefined) tf.registerKernel(cfg);
  }
  registerKernelConfigs(bnJs); // the fused BN op in JS loops over the heap: no native code at all
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

let lastMin = NaN;
/** Median ms of fn (which returns tensors to dispose) after warm-up; the minimum goes to lastMin. */
function timeIt(fn: () => tf.Tensor | tf.Tensor[], reps: number, warm = 2): number {
  const run = () => {
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    list[0].dataSync(); // wasm is synchronous, but read to be sure the work is done
    list.forEach((t) => t.dispose());
  };
  for (let i = 0; i < warm; i++) run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  lastMin = Math.min(...times);
  return median(times);
}

const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

// ------------------------------------------------------------------------------------------------
// GEMM
if (only.has('gemm')) {
  console.log('\nSGEMM (tf.matMul on wasm)            native ms  GFLOP/s |  stock ms  GFLOP/s');
  const shapes: [number, number, number, boolean, boolean, string][] = [
    [512, 512, 512, false, false, 'square 512'],
    [1024, 1024, 1024, false, false, 'square 1024'],
    [1024, 1024, 1024, true, false, 'square 1024, A^T'],
    [128, 128, 64, true, false, 'dense dW = x^T dy (64x128)'],
    [128, 128, 128, false, true, 'z z^T 128x128'],
    [16384, 64, 576, false, false, 'conv4 as GEMM'],
  ];
  for (const [m, n, k, ta, tb, label] of shapes) {
    const a = tf.randomNormal(ta ? [k, m] : [m, k]);
    const b = tf.randomNormal(tb ? [n, k] : [k, n]);
    const flops = 2 * m * n * k;
    const reps = flops > 1e9 ? 5 : 20;
    useNative();
    const tn = timeIt(() => tf.matMul(a, b, ta, tb), reps);
    let ts = NaN;
    if (withStock) {
      useStock();
      ts = timeIt(() => tf.matMul(a, b, ta, tb), Math.max(2, Math.floor(reps / 4)), 1);
    }
    console.log(
      `  ${label.padEnd(34)} ${fmt(tn, 2).padStart(8)} ${fmt(flops / tn / 1e6).padStart(8)} | ${fmt(ts, 2).padStart(8)} ${fmt(flops / ts / 1e6).padStart(8)}`,
    );
    a.dispose();
    b.dispose();
  }
}

// ------------------------------------------------------------------------------------------------
// Convolutions of the reference network
const LAYERS: [number, number, number, number][] = [
  // [in size, in channels, out channels, stride]
  [32, 3, 32, 1],
  [32, 32, 32, 1],
  [32, 32, 64, 2],
  [16, 64, 64, 1],
  [16, 64, 128, 2],
  [8, 128, 128, 1],
];
const BATCH = 64;

function backpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: number[], s: number): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy } as unknown as tf.NamedTensorMap,
    { strides: [s, s], pad: 'same', dataFormat: 'NHWC', filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
}
function backpropInput(inputShape: number[], dy: tf.Tensor4D, filter: tf.Tensor4D, s: number): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter } as unknown as tf.NamedTensorMap,
    { inputShape, strides: [s, s], pad: 'same', dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

if (only.has('conv')) {
  console.log(`\nConv2D 3x3, batch ${BATCH}, 'same'          GFLOP/s (ms)   native            | stock wasm`);
  console.log('  layer                          fwd        bwd-filter  bwd-input  | fwd        bwd-input');
  let totN = 0;
  let totS = 0;
  for (const [size, ci, co, s] of LAYERS) {
    const x = tf.randomNormal([BATCH, size, size, ci]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, ci, co]) as tf.Tensor4D;
    const y = tf.conv2d(x, w, s, 'same');
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
    const flops = 2 * y.size * 9 * ci;
    useNative();
    const f = timeIt(() => tf.conv2d(x, w, s, 'same'), 10);
    const bf = timeIt(() => backpropFilter(x, dy, [3, 3, ci, co], s), 10);
    const bi = timeIt(() => backpropInput(x.shape, dy, w, s), 10);
    totN += f + bf + (ci === 3 ? 0 : bi);
    let sf = NaN;
    let sbi = NaN;
    if (withStock) {
      useStock();
      sf = timeIt(() => tf.conv2d(x, w, s, 'same'), 3, 1);
      sbi = timeIt(() => backpropInput(x.shape, dy, w, s), 1, 0);
      totS += sf + (ci === 3 ? 0 : sbi);
    }
    const g = (ms: number) => `${fmt(flops / ms / 1e6).padStart(5)} (${fmt(ms, 1).padStart(5)})`;
    console.log(`  ${`${size}x${size}x${ci} -> ${co}${s === 2 ? ' /2' : ''}`.padEnd(26)} ${g(f)} ${g(bf)} ${g(bi)} | ${g(sf)} ${g(sbi)}`);
    tf.dispose([x, w, y, dy]);
  }
  console.log(`  total conv time per step (fwd + bwd, no dx for layer 1): native ${fmt(totN)} ms` +
    (withStock ? `; stock wasm ${fmt(totS)} ms without any filter gradient (stock has no Conv2DBackpropFilter)` : ''));
}

// ------------------------------------------------------------------------------------------------
// Training step of the 6-conv CNN
interface Net {
  vars: tf.Variable[];
  convs: tf.Variable[];
  gammas: tf.Variable[];
  betas: tf.Variable[];
  fcW: tf.Variable;
  fcB: tf.Variable;
}

function makeNet(): Net {
  const convs: tf.Variable[] = [];
  const gammas: tf.Variable[] = [];
  const betas: tf.Variable[] = [];
  let c = 3;
  for (const [, , co] of LAYERS) {
    convs.push(tf.variable(tf.mul(tf.randomNormal([3, 3, c, co]), Math.sqrt(2 / (9 * c)))));
    gammas.push(tf.variable(tf.ones([co])));
    betas.push(tf.variable(tf.zeros([co])));
    c = co;
  }
  const fcW = tf.variable(tf.mul(tf.randomNormal([c, 128]), Math.sqrt(1 / c)));
  const fcB = tf.variable(tf.zeros([128]));
  return { vars: [...convs, ...gammas, ...betas, fcW, fcB], convs, gammas, betas, fcW, fcB };
}

function forward(net: Net, x: tf.Tensor4D): tf.Tensor2D {
  let h: tf.Tensor4D = x;
  LAYERS.forEach(([, , , s], i) => {
    const y = tf.conv2d(h, net.convs[i] as tf.Tensor4D, s, 'same');
    h = batchNormTraining(y, net.gammas[i] as tf.Tensor1D, net.betas[i] as tf.Tensor1D, { relu: true }).y as tf.Tensor4D;
  });
  const pooled = tf.mean(h, [1, 2]) as tf.Tensor2D; // [B, 128]
  return tf.add(tf.matMul(pooled, net.fcW as tf.Tensor2D), net.fcB) as tf.Tensor2D; // [B, 128]
}

/** NT-Xent over the batch read as B/2 positive pairs (rows i and i + B/2), as in step_torch.py. */
function ntXent(z: tf.Tensor2D, temperature = 0.5): tf.Scalar {
  const n2 = z.shape[0];
  const n = n2 / 2;
  const zn = tf.div(z, tf.maximum(tf.norm(z, 'euclidean', 1, true), 1e-12));
  const sim = tf.div(tf.matMul(zn, zn, false, true), temperature); // [2N, 2N]
  const masked = tf.sub(sim, tf.mul(tf.eye(n2), 1e9));
  const target = tf.oneHot(tf.concat([tf.range(n, n2, 1, 'int32'), tf.range(0, n, 1, 'int32')]), n2);
  const logp = tf.logSoftmax(masked);
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), 1))) as tf.Scalar;
}

function makeStep(net: Net, x: tf.Tensor4D): () => tf.Tensor {
  const momenta = net.vars.map((v) => tf.variable(tf.zerosLike(v), false));
  const lr = 0.05;
  return () => {
    const { value, grads } = tf.variableGrads(() => ntXent(forward(net, x)), net.vars);
    tf.tidy(() => {
      net.vars.forEach((v, i) => {
        const g = tf.add(grads[v.name], tf.mul(v, 5e-4));
        const m = tf.add(tf.mul(momenta[i], 0.9), g);
        momenta[i].assign(m);
        v.assign(tf.sub(v, tf.mul(m, lr)));
      });
    });
    tf.dispose(Object.values(grads));
    return value;
  };
}

/** PyTorch's ms/step (median and minimum) from bench/step_torch_cnn.py, or undefined. */
function torchStep(): { median: number; min: number } | undefined {
  const script = fileURLToPath(new URL('./step_torch_cnn.py', import.meta.url));
  if (!existsSync('/usr/bin/python3') || !existsSync(script)) return undefined;
  const r = spawnSync('/usr/bin/python3', [script, '--batch', String(BATCH), '--steps', String(Math.max(steps, 10)), '--threads', '2'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) return undefined;
  try {
    const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { ms_median: number; ms_min: number };
    return { median: j.ms_median, min: j.ms_min };
  } catch {
    return undefined;
  }
}

function pureWasmStep(): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--pure-wasm-step', '--steps', '2'], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as { ms?: number; error?: string };
    return j.ms !== undefined ? `${fmt(j.ms)} ms/step` : `cannot train (${j.error})`;
  } catch {
    return `failed (${(r.stderr ?? '').trim().split('\n').pop()})`;
  }
}

if (pureWasmChild) {
  const x = tf.randomNormal([BATCH, 32, 32, 3]) as tf.Tensor4D;
  const net = makeNet();
  try {
    const ms = timeIt(makeStep(net, x), steps, 1);
    console.log(JSON.stringify({ ms }));
  } catch (err) {
    console.log(JSON.stringify({ error: (err as Error).message.split('\n')[0] }));
  }
  process.exit(0);
}

if (only.has('step')) {
  console.log(`\nTraining step: 6-conv CNN, batch ${BATCH}, 32x32x3, NT-Xent, SGD momentum (median of ${steps})`);
  const x = tf.randomNormal([BATCH, 32, 32, 3]) as tf.Tensor4D;
  const net = makeNet();
  const step = makeStep(net, x);
  useNative();
  const before = tf.memory().numTensors;
  const tn = timeIt(step, steps, 3);
  const tnMin = lastMin;
  const after = tf.memory().numTensors;
  console.log(`  wasm + native kernels: ${fmt(tn)} ms/step median, ${fmt(tnMin)} min   (numTensors ${before} -> ${after})`);
  if (argv.includes('--profile')) {
    const prof = await tf.profile(() => step());
    const byKernel = new Map<string, number>();
    for (const k of prof.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    const rows = [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20);
    console.log('  kernel time (ms): ' + rows.map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(', '));
    if (argv.includes('--verbose')) {
      const top = [...prof.kernels].sort((a, b) => (b.kernelTimeMs as number) - (a.kernelTimeMs as number)).slice(0, 40);
      for (const k of top) console.log(`    ${k.name.padEnd(28)} ${(k.kernelTimeMs as number).toFixed(2).padStart(7)} ms  in [${k.inputShapes.map((s) => `[${s}]`).join(' ')}] out [${k.outputShapes.map((s) => `[${s}]`).join(' ')}]`);
    }
    tf.dispose(prof.result as tf.Tensor);
  }
  let ts = NaN;
  if (withStock) {
    useStock();
    try {
      ts = timeIt(step, 1, 1);
      console.log(`  stock wasm:            ${fmt(ts)} ms/step`);
    } catch (err) {
      console.log(`  stock wasm:            cannot train (${(err as Error).message.split('\n')[0]})`);
    }
    useNative();
    console.log(`  pure-wasm kernels:     ${pureWasmStep()}  (src/backend/wasm, 1 thread; separate process)`);
  }
  const pt = withTorch ? torchStep() : undefined;
  if (pt !== undefined) {
    console.log(`  PyTorch (2 threads):   ${fmt(pt.median)} ms/step median, ${fmt(pt.min)} min`);
    console.log(`  ratio native/PyTorch:  ${fmt(tn / pt.median, 2)} (medians), ${fmt(tnMin / pt.min, 2)} (minima)`);
  } else if (withTorch) {
    console.log('  PyTorch: not available (/usr/bin/python3 with torch)');
  }
  tf.dispose([x, ...net.vars]);
}
