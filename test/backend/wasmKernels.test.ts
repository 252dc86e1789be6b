/**
 * contrastream's pure-wasm training kernels (src/backend/wasm/kernels/) against the cpu
 * backend: kernel outputs and tfjs gradients (tf.grads through tf.conv2d, tf.depthwiseConv2d,
 * tf.matMul, tf.maxPool, tf.avgPool, batchNormTraining, tf.gather) over random shapes —
 * strides 1-3, 'same', 'valid', numeric and explicit pads, kernels 1-7, odd sizes, channel
 * multipliers, transposes, batch broadcasting. Norm-relative error ≤ 1e-4.
 *
 * Where the cpu backend itself is wrong (dilated depthwise backprops ignore the dilation;
 * BatchMatMul does not broadcast batch dimensions) the reference is an independent one: the
 * same computation with a zero-stuffed undilated filter, or a per-batch slow loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../../src/backend/wasm/registerWasmTrainingKernels.ts';
import { batchNormTraining } from '../../src/ops/batchNormTraining.ts';

const TOL = 1e-4;
const RUNS = 40;

beforeAll(async () => {
  const info = registerWasmTrainingKernels({ threads: 1, native: false });
  expect(info.native).toBe(false);
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

/** Deterministic values in [-1, 1) (xorshift32). */
function rand(n: number, seed: number): Float32Array {
  let s = (seed | 0) ^ 0x2545f491 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

interface Result {
  values: Float32Array;
  shape: number[];
}

/** Runs `f` on `backend` and returns copies of its outputs; frees every tensor it made. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backend);
  const out: Result[] = [];
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const r = f();
    for (const t of Array.isArray(r) ? r : [r]) out.push({ values: Float32Array.from(t.dataSync()), shape: t.shape.slice() });
  });
  expect(tf.memory().numTensors, `tensors leaked on ${backend}`).toBe(before);
  return out;
}

/** ‖got − want‖ / ‖want‖ (absolute when want is 0). */
function relErr(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num) / (den > 0 ? Math.sqrt(den) : 1);
}

function expectClose(got: Result[], want: Result[], what: string): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(g.shape, `${what} output ${i} shape`).toEqual(want[i].shape);
    const e = relErr(g.values, want[i].values);
    if (!(e <= TOL)) throw new Error(`${what} output ${i}: relative error ${e} > ${TOL}`);
  });
}

/** Same computation on cpu and wasm. */
async function compare(what: string, f: () => tf.Tensor | tf.Tensor[]): Promise<void> {
  const want = await on('cpu', f);
  const got = await on('wasm', f);
  expectClose(got, want, what);
}

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];

const padArb: fc.Arbitrary<Pad> = fc.oneof(
  fc.constant<Pad>('same'),
  fc.constant<Pad>('valid'),
  fc.integer({ min: 0, max: 3 }),
  fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)).map(([t, b, l, r]) => [[0, 0], [t, b], [l, r], [0, 0]] as Pad),
);

interface ConvCase {
  b: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  pad: Pad;
  seed: number;
}

const convCase = (maxStride: number, maxC: number): fc.Arbitrary<ConvCase> =>
  fc.record({
    b: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 11 }),
    ci: fc.integer({ min: 1, max: maxC }),
    co: fc.integer({ min: 1, max: maxC }),
    kh: fc.integer({ min: 1, max: 7 }),
    kw: fc.integer({ min: 1, max: 7 }),
    sh: fc.integer({ min: 1, max: maxStride }),
    sw: fc.integer({ min: 1, max: maxStride }),
    pad: padArb,
    seed: fc.integer(),
  });

/** The forward output shape, or null when tfjs rejects the geometry or it is empty. */
function convOut(c: ConvCase, depthwise = false, mult = 1, dil: [number, number] = [1, 1]): number[] | null {
  try {
    const info = tf.backend_util.computeConv2DInfo(
      [c.b, c.h, c.w, c.ci],
      [c.kh, c.kw, c.ci, depthwise ? mult : c.co],
      [c.sh, c.sw],
      dil,
      c.pad,
      undefined,
      depthwise,
    );
    return info.outHeight > 0 && info.outWidth > 0 ? info.outShape : null;
  } catch {
    return null;
  }
}

describe('Conv2DBackpropFilter and Conv2DBackpropInput kernels', () => {
  it('match the cpu backend (strides 1-3, all paddings, kernels 1-7)', async () => {
    await fc.assert(
      fc.asyncProperty(convCase(3, 6), async (c) => {
        const yShape = convOut(c);
        fc.pre(yShape !== null);
        const xs = [c.b, c.h, c.w, c.ci];
        const ws = [c.kh, c.kw, c.ci, c.co];
        const x = rand(size(xs), c.seed);
        const w = rand(size(ws), c.seed + 1);
        const dy = rand(size(yShape!), c.seed + 2);
        const attrs = { strides: [c.sh, c.sw], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
        await compare(`backprops ${JSON.stringify(c)}`, () => [
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(x, xs), dy: tf.tensor(dy, yShape!) }, { ...attrs, filterShape: ws } as never) as tf.Tensor,
          tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, yShape!), filter: tf.tensor(w, ws) }, { ...attrs, inputShape: xs } as never) as tf.Tensor,
        ]);
      }),
      { numRuns: RUNS },
    );
  });

  it('give the gradients of tf.conv2d (strides 1-2, same/valid/explicit pads)', async () => {
    await fc.assert(
      fc.asyncProperty(convCase(2, 8), async (c) => {
        // tfjs sizes the output of a numeric pad as if kernel and strides were square; the stock
        // wasm Conv2D (forward) then writes past its output buffer. Not a backprop matter.
        fc.pre(typeof c.pad !== 'number' || (c.kh === c.kw && c.sh === c.sw));
        const yShape = convOut(c);
        fc.pre(yShape !== null);
        const xs = [c.b, c.h, c.w, c.ci];
        const ws = [c.kh, c.kw, c.ci, c.co];
        const x = rand(size(xs), c.seed);
        const w = rand(size(ws), c.seed + 1);
        const r = rand(size(yShape!), c.seed + 2);
        await compare(`conv2d grads ${JSON.stringify(c)}`, () => {
          const loss = (xt: tf.Tensor, wt: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, [c.sh, c.sw], c.pad as never), tf.tensor(r, yShape!)));
          return tf.grads(loss)([tf.tensor(x, xs), tf.tensor(w, ws)]);
        });
      }),
      { numRuns: RUNS },
    );
  });

  it('are exact with the reference layers\' channel counts (32->32, and 64->128 stride 2, pad 1)', async () => {
    for (const [h, ci, co, s] of [
      [8, 32, 32, 1],
      [6, 64, 128, 2],
    ]) {
      const xs = [1, h, h, ci];
      const ws = [3, 3, ci, co];
      const x = rand(size(xs), h);
      const w = rand(size(ws), ci);
      await compare(`layer ${h}x${h} ${ci}->${co} s${s}`, () =>
        tf.grads((xt: tf.Tensor, wt: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, s, 1))))([tf.tensor(x, xs), tf.tensor(w, ws)]),
      );
    }
  });
});

describe('depthwise backprop kernels', () => {
  const dwCase = fc.record({ c: convCase(2, 5), mult: fc.integer({ min: 1, max: 3 }) });

  it('give the gradients of tf.depthwiseConv2d (channel multipliers 1-3)', async () => {
    await fc.assert(
      fc.asyncProperty(dwCase, async ({ c, mult }) => {
        fc.pre(typeof c.pad !== 'number'); // see the tf.conv2d property
        const yShape = convOut(c, true, mult);
        fc.pre(yShape !== null);
        const xs = [c.b, c.h, c.w, c.ci];
        const ws = [c.kh, c.kw, c.ci, mult];
        const x = rand(size(xs), c.seed);
        const w = rand(size(ws), c.seed + 1);
        const r = rand(size(yShape!), c.seed + 2);
        await compare(`depthwise grads ${JSON.stringify({ ...c, mult })}`, () =>
          tf.grads((xt: tf.Tensor, wt: tf.Tensor) =>
            tf.sum(tf.mul(tf.depthwiseConv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, [c.sh, c.sw], c.pad as never), tf.tensor(r, yShape!))),
          )([tf.tensor(x, xs), tf.tensor(w, ws)]),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('handle dilations (reference: the same kernels with a zero-stuffed undilated filter on cpu)', async () => {
    const dilCase = fc.record({
      c: convCase(1, 4),
      mult: fc.integer({ min: 1, max: 2 }),
      dh: fc.integer({ min: 1, max: 3 }),
      dw: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(dilCase, async ({ c, mult, dh, dw }) => {
        fc.pre(typeof c.pad !== 'number');
        const kh = Math.min(c.kh, 4);
        const kw = Math.min(c.kw, 4);
        const cc = { ...c, kh, kw };
        const yShape = convOut(cc, true, mult, [dh, dw]);
        fc.pre(yShape !== null);
        const KH = (kh - 1) * dh + 1;
        const KW = (kw - 1) * dw + 1;
        const xs = [c.b, c.h, c.w, c.ci];
        const x = rand(size(xs), c.seed);
        const w = rand(kh * kw * c.ci * mult, c.seed + 1);
        const dy = rand(size(yShape!), c.seed + 2);
        const cm = c.ci * mult;
        const stuffed = new Float32Array(KH * KW * cm);
        for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) stuffed.set(w.subarray((i * kw + j) * cm, (i * kw + j + 1) * cm), (i * dh * KW + j * dw) * cm);
        const run = (filterShape: number[], filter: Float32Array, dil: number[]) => () => [
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor(x, xs), dy: tf.tensor(dy, yShape!) }, {
            strides: [1, 1], dilations: dil, pad: c.pad, filterShape,
          } as never) as tf.Tensor,
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor(dy, yShape!), filter: tf.tensor(filter, filterShape) }, {
            strides: [1, 1], dilations: dil, pad: c.pad, inputShape: xs,
          } as never) as tf.Tensor,
        ];
        const [dfS, dxWant] = await on('cpu', run([KH, KW, c.ci, mult], stuffed, [1, 1]));
        const dfWant = new Float32Array(kh * kw * cm);
        for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) dfWant.set(dfS.values.subarray((i * dh * KW + j * dw) * cm, (i * dh * KW + j * dw + 1) * cm), (i * kw + j) * cm);
        const got = await on('wasm', run([kh, kw, c.ci, mult], w, [dh, dw]));
        expectClose(got, [{ values: dfWant, shape: [kh, kw, c.ci, mult] }, dxWant], `dilated depthwise ${JSON.stringify({ ...cc, mult, dh, dw })}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('BatchMatMul', () => {
  // Small products stay on the stock loop (STOCK_MAX_MACS); large ones take the XNNPACK routes.
  const dim = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 26, max: 64 }));
  const mmCase = fc.record({
    m: dim,
    k: dim,
    n: dim,
    tA: fc.boolean(),
    tB: fc.boolean(),
    batch: fc.constantFrom<[number[], number[]]>([[], []], [[3], [3]], [[2, 2], [2, 2]], [[3], []], [[1], [3]], [[4], [1]]),
    seed: fc.integer(),
  });

  it('gives the gradients of tf.matMul with transposes and batches', async () => {
    await fc.assert(
      fc.asyncProperty(mmCase, async ({ m, k, n, tA, tB, batch: [ba, bb], seed }) => {
        const as = [...ba, ...(tA ? [k, m] : [m, k])];
        const bs = [...bb, ...(tB ? [n, k] : [k, n])];
        const ys = [...tf.broadcast_util.assertAndGetBroadcastShape(ba, bb), m, n];
        const a = rand(size(as), seed);
        const b = rand(size(bs), seed + 1);
        const r = rand(size(ys), seed + 2);
        const what = `matMul ${JSON.stringify({ as, bs, tA, tB })}`;
        await compare(`${what} forward`, () => tf.matMul(tf.tensor(a, as), tf.tensor(b, bs), tA, tB));
        // tfjs-core's BatchMatMul gradient does not reduce over broadcast batch dimensions (it
        // fails on every backend), so gradients are compared for equal batch shapes only.
        if (JSON.stringify(ba) !== JSON.stringify(bb)) return;
        await compare(`${what} grads`, () =>
          tf.grads((at: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(tf.matMul(at, bt, tA, tB), tf.tensor(r, ys))))([tf.tensor(a, as), tf.tensor(b, bs)]),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('broadcasts batch dimensions like numpy ([2,1] x [3]; reference: per-pair products)', async () => {
    const a = rand(2 * 5 * 4, 1);
    const b = rand(3 * 4 * 6, 2);
    const [got] = await on('wasm', () => tf.matMul(tf.tensor(a, [2, 1, 5, 4]), tf.tensor(b, [3, 4, 6])));
    expect(got.shape).toEqual([2, 3, 5, 6]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const [want] = await on('cpu', () => tf.matMul(tf.tensor(a.subarray(i * 20, i * 20 + 20), [5, 4]), tf.tensor(b.subarray(j * 24, j * 24 + 24), [4, 6])));
        const part = got.values.subarray((i * 3 + j) * 30, (i * 3 + j + 1) * 30);
        expect(relErr(part, want.values)).toBeLessThanOrEqual(TOL);
      }
    }
  });

  it('computes z·zᵀ similarity matrices (transposeB) of realistic size', async () => {
    const z = rand(256 * 128, 7);
    await compare('z zT', () => {
      const t = tf.tensor(z, [256, 128]);
      return tf.matMul(t, t, false, true);
    });
  });
});

describe('pooling gradients (contrastream MaxPoolGrad and AvgPoolGrad)', () => {
  const poolCase = fc.record({
    b: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 11 }),
    c: fc.integer({ min: 1, max: 9 }),
    f: fc.integer({ min: 1, max: 4 }),
    s: fc.integer({ min: 1, max: 3 }),
    pad: fc.constantFrom<'same' | 'valid'>('same', 'valid'),
    seed: fc.integer(),
  });

  /**
   * The gradient of tfjs' forward avgPool (an average over the window's taps inside the
   * input), from the definition: each dy is shared equally by those taps.
   */
  function referenceAvgPoolGrad(xs: number[], f: number, s: number, pad: 'same' | 'valid', r: Float32Array): Float32Array {
    const info = tf.backend_util.computePool2DInfo(xs as [number, number, number, number], f, s, 1, pad);
    const [b, h, w, c] = xs;
    const dx = new Float32Array(size(xs));
    for (let n = 0; n < b; n++) {
      for (let oy = 0; oy < info.outHeight; oy++) {
        for (let ox = 0; ox < info.outWidth; ox++) {
          const inside: number[] = [];
          for (let ky = 0; ky < f; ky++) {
            for (let kx = 0; kx < f; kx++) {
              const y = oy * s - info.padInfo.top + ky;
              const x = ox * s - info.padInfo.left + kx;
              if (y >= 0 && y < h && x >= 0 && x < w) inside.push(y * w + x);
            }
          }
          for (const p of inside) {
            for (let k = 0; k < c; k++) dx[(n * h * w + p) * c + k] += r[((n * info.outHeight + oy) * info.outWidth + ox) * c + k] / inside.length;
          }
        }
      }
    }
    return dx;
  }

  it('maxPool: match the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(poolCase, async (p) => {
        fc.pre(p.pad === 'same' || (p.f <= p.h && p.f <= p.w));
        const xs = [p.b, p.h, p.w, p.c];
        // Include all-negative and all-zero windows (the stock kernel dropped their gradient).
        const x = rand(size(xs), p.seed).map((v, i) => (i % 7 === 0 ? 0 : v - 0.5));
        const yShape = tf.backend_util.computePool2DInfo(xs as never, p.f, p.s, 1, p.pad).outShape;
        const r = rand(size(yShape), p.seed + 3);
        await compare(`maxPool ${JSON.stringify(p)}`, () =>
          tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xt as tf.Tensor4D, p.f, p.s, p.pad), tf.tensor(r, yShape))))(tf.tensor(x, xs)),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('avgPool: match the gradient of the forward average (and the cpu backend for valid padding)', async () => {
    await fc.assert(
      fc.asyncProperty(poolCase, async (p) => {
        fc.pre(p.pad === 'same' || (p.f <= p.h && p.f <= p.w));
        const xs = [p.b, p.h, p.w, p.c];
        const x = rand(size(xs), p.seed);
        const yShape = tf.backend_util.computePool2DInfo(xs as never, p.f, p.s, 1, p.pad).outShape;
        const r = rand(size(yShape), p.seed + 3);
        const f = () => tf.grad((xt: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(xt as tf.Tensor4D, p.f, p.s, p.pad), tf.tensor(r, yShape))))(tf.tensor(x, xs));
        const got = await on('wasm', f);
        expectClose(got, [{ values: referenceAvgPoolGrad(xs, p.f, p.s, p.pad, r), shape: xs }], `avgPool ${JSON.stringify(p)}`);
        if (p.pad === 'valid') expectClose(got, await on('cpu', f), `avgPool vs cpu ${JSON.stringify(p)}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('ContrastreamBatchNormTrain (+Grad) kernels', () => {
  /**
   * Batch norm and its gradients in float64, from the formulas (Ioffe & Szegedy 2015), for the
   * loss Σ r·y (+ Σ rs·(mean + 2·var) when statsLoss). Also returns, per output, the size of
   * the terms that are summed (float32 rounding scales with it, not with a result that cancels).
   */
  function referenceBatchNorm(x: Float32Array, shape: number[], gamma: Float32Array, beta: Float32Array, r: Float32Array, rs: Float32Array, relu: boolean, statsLoss: boolean) {
    const c = shape[shape.length - 1];
    const n = x.length / c;
    const eps = 1e-5;
    const mean = new Float64Array(c);
    const variance = new Float64Array(c);
    for (let i = 0; i < x.length; i++) mean[i % c] += x[i] / n;
    for (let i = 0; i < x.length; i++) variance[i % c] += (x[i] - mean[i % c]) ** 2 / n;
    const istd = Array.from(variance, (v) => 1 / Math.sqrt(v + eps));
    const xhat = Float64Array.from(x, (v, i) => (v - mean[i % c]) * istd[i % c]);
    const y = Float64Array.from(xhat, (v, i) => Math.max(relu ? 0 : -Infinity, gamma[i % c] * v + beta[i % c]));
    const g = Float64Array.from(r, (v, i) => (!relu || y[i] > 0 ? v : 0));
    const dbeta = new Float64Array(c);
    const dgamma = new Float64Array(c);
    const absB = new Float64Array(c);
    const absG = new Float64Array(c);
    for (let i = 0; i < x.length; i++) {
      dbeta[i % c] += g[i];
      dgamma[i % c] += g[i] * xhat[i];
      absB[i % c] += Math.abs(g[i]);
      absG[i % c] += Math.abs(g[i] * xhat[i]);
    }
    const dx = Float64Array.from(g, (v, i) => {
      const k = i % c;
      let d = gamma[k] * istd[k] * (v - dbeta[k] / n - (xhat[i] * dgamma[k]) / n);
      if (statsLoss) d += rs[k] / n + (2 * rs[k] * 2 * (x[i] - mean[k])) / n;
      return d;
    });
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
    const dxScale = norm(Float64Array.from(g, (v, i) => gamma[i % c] * istd[i % c] * Math.abs(v))) + (statsLoss ? norm(rs) : 0);
    return {
      values: [y, mean, variance, dx, dgamma, dbeta].map((v) => Float32Array.from(v)),
      scales: [norm(y), norm(mean), norm(variance), dxScale, norm(absG), norm(absB)],
    };
  }

  const bnCase = fc.record({
    shape: fc.oneof(
      fc.tuple(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 37 })).map(([n, c]) => [n, c]),
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 19 })).map((s) => [...s]),
    ),
    relu: fc.boolean(),
    statsLoss: fc.boolean(),
    seed: fc.integer(),
  });

  it('match batch norm from the formulas (float64): outputs and gradients', async () => {
    await fc.assert(
      fc.asyncProperty(bnCase, async ({ shape, relu, statsLoss, seed }) => {
        const c = shape[shape.length - 1];
        fc.pre(size(shape) / c >= 2);
        const x = rand(size(shape), seed);
        const gamma = rand(c, seed + 1).map((v) => v + 1.5);
        const beta = rand(c, seed + 2);
        const r = rand(size(shape), seed + 3);
        const rs = rand(c, seed + 4);
        await tf.setBackend('wasm');
        expect(tf.getKernel('ContrastreamBatchNormTrain', 'wasm')).toBeDefined();
        const got = await on('wasm', () => {
          const loss = (xt: tf.Tensor, g: tf.Tensor, bt: tf.Tensor) => {
            const out = batchNormTraining(xt, g as tf.Tensor1D, bt as tf.Tensor1D, { relu });
            let l = tf.sum(tf.mul(out.y, tf.tensor(r, shape)));
            if (statsLoss) l = tf.add(l, tf.sum(tf.mul(tf.add(out.mean, tf.mul(out.variance, 2)), tf.tensor(rs, [c]))));
            return l as tf.Scalar;
          };
          const out = batchNormTraining(tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta), { relu });
          return [out.y, out.mean, out.variance, ...tf.grads(loss)([tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta)])];
        });
        const want = referenceBatchNorm(x, shape, gamma, beta, r, rs, relu, statsLoss);
        const what = `batchNorm ${JSON.stringify({ shape, relu, statsLoss })}`;
        got.forEach((g, i) => {
          const w = want.values[i];
          let num = 0;
          for (let j = 0; j < w.length; j++) num += (g.values[j] - w[j]) ** 2;
          const e = Math.sqrt(num) / (Math.max(want.scales[i], 0) || 1);
          if (!(e <= TOL)) throw new Error(`${what} output ${i}: relative error ${e} > ${TOL}`);
        });
      }),
      { numRuns: RUNS },
    );
  });
});

describe('UnsortedSegmentSum', () => {
  it('matches the cpu backend, and tf.gather has a gradient on wasm', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          rows: fc.integer({ min: 1, max: 30 }),
          inner: fc.constantFrom([], [1], [5], [3, 4], [16]),
          segments: fc.integer({ min: 1, max: 8 }),
          seed: fc.integer(),
        }),
        async ({ rows, inner, segments, seed }) => {
          const xs = [rows, ...inner];
          const x = rand(size(xs), seed);
          const ids = Array.from(rand(rows, seed + 1), (v) => Math.floor((v + 1) * (segments + 1)) - 1); // some -1: dropped
          await compare(`unsortedSegmentSum ${JSON.stringify({ xs, segments })}`, () => tf.unsortedSegmentSum(tf.tensor(x, xs), tf.tensor1d(ids, 'int32'), segments));
          const idx = ids.map((v) => Math.max(0, v) % rows);
          await compare(`gather grad ${JSON.stringify({ xs })}`, () =>
            tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor1d(idx, 'int32')))))(tf.tensor(x, xs)),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('argument errors', () => {
  it('name the kernel and the argument', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 2, 4, 4]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [1, 1, 4, 2] } as never),
    ).toThrow(/wasm Conv2DBackpropFilter: argument 'dataFormat' must be 'NHWC'/);
    const xi = tf.zeros([1, 4, 4, 2], 'int32');
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: xi, dy: tf.zeros([1, 4, 4, 3]) }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 2, 3] } as never),
    ).toThrow(/argument 'x, dy' must be float32, got int32/);
    expect(() => tf.engine().runKernel('BatchMatMul', { a: tf.zeros([1, 3, 4]), b: tf.zeros([1, 5, 6]) }, { transposeA: false, transposeB: false } as never)).toThrow(
      /wasm BatchMatMul: argument 'a, b' have inner dimensions 4 and 5/,
    );
    tf.dispose([x, dy, xi]);
  });
});
