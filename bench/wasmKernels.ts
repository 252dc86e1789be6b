/**
 * Benchmark of contrastream's pure-wasm training kernels (src/backend/wasm/kernels/) against
 * the stock @tensorflow/tfjs-backend-wasm kernel where one exists and against the forward
 * convolution of the same layer, on the reference layers of issue 2:
 *   B = 32 / 64, 32x32, 32 -> 32, 3x3 (pad 1)   and   64 -> 128, 3x3, stride 2 (16x16 input)
 * plus depthwise layers, the matmul shapes of a training step, pooling and batch norm.
 *
 *   node --import tsx bench/wasmKernels.ts [--reps N] [--quick] [--only conv,depthwise,matmul,pool,bn,segment]
 *
 * Times are medians over N calls (default 5) after one warm-up call, as CPU time of this
 * process (wasm runs on one thread, and CPU time is far less disturbed than wall time when the
 * machine is shared) and wall time. Ratios are computed in the same run. The stock
 * Conv2DBackpropInput (a scalar loop, seconds per call) runs once per layer; --quick skips it
 * for B = 64.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { registerWasmTrainingKernels } from '../src/backend/wasm/registerWasmTrainingKernels.ts';
import { stockKernel } from '../src/backend/wasm/kernelSupport.ts';
import { conv2DBackpropFilterOptions } from '../src/backend/wasm/kernels/conv2DBackpropFilter.ts';
import { registerGradients } from '../src/train/registerGradients.ts';
import { batchNormTraining, BATCH_NORM_TRAIN_KERNEL } from '../src/ops/batchNormTraining.ts';

const args = process.argv.slice(2);
const REPS = Number(args[args.indexOf('--reps') + 1]) > 0 && args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 5;
const QUICK = args.includes('--quick');
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : undefined;
const want = (section: string) => ONLY === undefined || ONLY.includes(section);

const info = registerWasmTrainingKernels({ threads: 1, native: false });
await registerGradients();
await tf.setBackend('wasm');
const backend = tf.backend() as BackendWasm;

interface Timing {
  cpu: number;
  wall: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times `f` (which returns what it allocated, freed here after each call). */
function time(f: () => tf.TensorInfo | tf.TensorInfo[] | void, reps = REPS, warm = 1): Timing {
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < warm + reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = f();
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    for (const o of out === undefined ? [] : Array.isArray(out) ? out : [out]) backend.disposeData(o.dataId);
    if (i >= warm) {
      cpu.push((c.user + c.system) / 1000);
      wall.push(t1 - t0);
    }
  }
  return { cpu: median(cpu), wall: median(wall) };
}

const run = (name: string, inputs: Record<string, tf.Tensor | tf.TensorInfo>, attrs: object) => () =>
  tf.getKernel(name, 'wasm')!.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;
const runStock = (name: string, inputs: Record<string, tf.Tensor | tf.TensorInfo>, attrs: object) => () =>
  stockKernel(name)!.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs: attrs as tf.NamedAttrMap }) as tf.TensorInfo;

const rows: string[][] = [];
const fmt = (t: Timing | undefined) => (t === undefined ? '-' : `${t.cpu.toFixed(1)} (${t.wall.toFixed(1)})`);
const ratio = (a: Timing | undefined, b: Timing | undefined) => (a === undefined || b === undefined ? '-' : `${(a.cpu / b.cpu).toFixed(2)}x`);
function row(what: string, ours: Timing, stock: Timing | undefined, ref: Timing | undefined, refName: string): void {
  rows.push([what, fmt(ours), fmt(stock), ratio(stock, ours), fmt(ref), ref === undefined ? '-' : `${ratio(ours, ref)} of ${refName}`]);
  console.error(`  ${what}: ${fmt(ours)} ms`);
}

console.error(`wasm kernel bench: ${info.detail}; ${REPS} reps; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);

// ---- Convolution layers --------------------------------------------------------------
for (const [b, h, ci, co, s] of !want('conv') ? [] : [
  [64, 32, 3, 32, 1],
  [32, 32, 32, 32, 1],
  [64, 32, 32, 32, 1],
  [32, 16, 64, 128, 2],
  [64, 16, 64, 128, 2],
]) {
  const x = tf.randomNormal([b, h, h, ci]);
  const w = tf.randomNormal([3, 3, ci, co]);
  const pad = [[0, 0], [1, 1], [1, 1], [0, 0]];
  const fwd = run('Conv2D', { x, filter: w }, { strides: s, pad, dilations: 1, dataFormat: 'NHWC' });
  const y = fwd();
  const dy = tf.randomNormal(y.shape);
  backend.disposeData(y.dataId);
  const layer = `conv B${b} ${h}x${h} ${ci}->${co} s${s}`;
  const tf0 = time(fwd);
  rows.push([`${layer} forward (stock XNNPACK)`, fmt(tf0), '-', '-', '-', '-']);
  const attrs = { strides: s, pad, dataFormat: 'NHWC' };
  const dW = time(run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }));
  row(`${layer} Conv2DBackpropFilter`, dW, undefined, tf0, 'fwd');
  conv2DBackpropFilterOptions.method = 'conv';
  row(`${layer} Conv2DBackpropFilter, 'conv' method`, time(run('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape })), undefined, tf0, 'fwd');
  conv2DBackpropFilterOptions.method = 'gemm';
  const dX = time(run('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }));
  const stockDX = QUICK && b > 32 ? undefined : time(runStock('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }), 1, 0);
  row(`${layer} Conv2DBackpropInput`, dX, stockDX, tf0, 'fwd');
  tf.dispose([x, w, dy]);
}

// ---- Depthwise layers ----------------------------------------------------------------
for (const [b, h, c, m, s] of !want('depthwise') ? [] : [
  [32, 32, 32, 1, 1],
  [32, 32, 32, 2, 1],
  [32, 32, 64, 1, 2],
]) {
  const x = tf.randomNormal([b, h, h, c]);
  const w = tf.randomNormal([3, 3, c, m]);
  const attrs = { strides: s, pad: 'same', dilations: 1 };
  const fwd = run('DepthwiseConv2dNative', { x, filter: w }, attrs);
  const y = fwd();
  const dy = tf.randomNormal(y.shape);
  backend.disposeData(y.dataId);
  const layer = `depthwise B${b} ${h}x${h} C${c} x${m} s${s}`;
  const tf0 = time(fwd);
  rows.push([`${layer} forward (stock XNNPACK)`, fmt(tf0), '-', '-', '-', '-']);
  row(`${layer} BackpropFilter`, time(run('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape })), undefined, tf0, 'fwd');
  row(`${layer} BackpropInput`, time(run('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape })), undefined, tf0, 'fwd');
  tf.dispose([x, w, dy]);
}

// ---- BatchMatMul ---------------------------------------------------------------------
for (const [as, bs, tA, tB, what] of (!want('matmul') ? [] : [
  [[1, 512, 128], [1, 128, 128], false, false, 'dense forward'],
  [[1, 512, 128], [1, 128, 128], false, true, 'dense dX = dY·Wᵀ'],
  [[1, 512, 128], [1, 512, 128], true, false, 'dense dW = Xᵀ·dY'],
  [[1, 256, 128], [1, 256, 128], false, true, 'z·zᵀ 256x128'],
  [[1, 1024, 128], [1, 1024, 128], false, true, 'z·zᵀ 1024x128'],
  [[1, 64, 4096], [1, 64, 4096], true, false, 'big Xᵀ·dY 4096x64x4096'],
  [[8, 64, 64], [8, 64, 64], false, true, 'batched 8x64x64 (tB)'],
  [[32, 16, 16], [32, 16, 16], false, false, 'batched 32x16x16'],
]) as [number[], number[], boolean, boolean, string][]) {
  const a = tf.randomNormal(as);
  const bm = tf.randomNormal(bs);
  const attrs = { transposeA: tA, transposeB: tB };
  const ours = time(run('BatchMatMul', { a, b: bm }, attrs));
  const stock = time(runStock('BatchMatMul', { a, b: bm }, attrs));
  row(`BatchMatMul ${what} [${as}]x[${bs}]${tA ? ' tA' : ''}${tB ? ' tB' : ''}`, ours, stock, undefined, '');
  tf.dispose([a, bm]);
}

// ---- Pooling -------------------------------------------------------------------------
if (want('pool')) {
  const x = tf.randomNormal([32, 32, 32, 64]);
  const attrs = { filterSize: 3, strides: 2, pad: 'same', dimRoundingMode: undefined };
  const fwd = run('MaxPool', { x }, attrs);
  const y = fwd();
  const dy = tf.randomNormal(y.shape);
  const fw = time(fwd);
  rows.push(['maxPool B32 32x32x64 3x3 s2 forward (stock)', fmt(fw), '-', '-', '-', '-']);
  const inputs = { dy, input: x, output: y };
  row('MaxPoolGrad (stock one is wrong for windows <= 0)', time(run('MaxPoolGrad', inputs, attrs)), time(runStock('MaxPoolGrad', inputs, attrs)), fw, 'fwd');
  const afwd = run('AvgPool', { x }, attrs);
  const ay = afwd();
  const ady = tf.randomNormal(ay.shape);
  const aw = time(afwd);
  rows.push(['avgPool B32 32x32x64 3x3 s2 forward (stock)', fmt(aw), '-', '-', '-', '-']);
  row('AvgPoolGrad', time(run('AvgPoolGrad', { dy: ady, input: x }, attrs)), time(runStock('AvgPoolGrad', { dy: ady, input: x }, attrs)), aw, 'fwd');
  backend.disposeData(y.dataId);
  backend.disposeData(ay.dataId);
  tf.dispose([x, dy, ady]);
}

// ---- Batch norm (fused kernels vs the composite tf-ops path) --------------------------
if (want('bn')) {
  const x = tf.randomNormal([64, 32, 32, 32]);
  const gamma = tf.ones([32]) as tf.Tensor1D;
  const beta = tf.zeros([32]) as tf.Tensor1D;
  const r = tf.randomNormal(x.shape);
  const step = () => {
    tf.tidy(() => {
      const g = tf.grads((xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(batchNormTraining(xt, gt as tf.Tensor1D, bt as tf.Tensor1D, { relu: true }).y, r)))([x, gamma, beta]);
      g.forEach((t) => t.dataSync());
    });
  };
  const fused = time(step);
  // The composite path: what batchNormTraining does without the kernel.
  const saved = tf.getKernel(BATCH_NORM_TRAIN_KERNEL, 'wasm')!;
  tf.unregisterKernel(BATCH_NORM_TRAIN_KERNEL, 'wasm');
  const composite = time(step, Math.min(REPS, 3));
  tf.registerKernel(saved);
  row('batch norm + ReLU fwd+bwd [64,32,32,32] (vs composite tf ops)', fused, composite, undefined, '');
  tf.dispose([x, gamma, beta, r]);
}

// ---- UnsortedSegmentSum --------------------------------------------------------------
if (want('segment')) {
  const x = tf.randomNormal([4096, 128]);
  const ids = tf.randomUniform([4096], 0, 512, 'int32');
  row('UnsortedSegmentSum [4096,128] -> 512 (no stock kernel)', time(run('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 512 })), undefined, undefined, '');
  tf.dispose([x, ids]);
}

// ---- Report ----------------------------------------------------------------------------
const header = ['kernel', 'ours ms cpu (wall)', 'stock ms cpu (wall)', 'stock/ours', 'reference ms', 'ours/reference'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`\nwasm training kernels (${info.detail}); medians of ${REPS}; load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log(`tensors alive at the end: ${tf.memory().numTensors}`);
