/**
 * Native BatchMatMul / _FusedMatMul on the wasm backend against the cpu backend: every
 * transpose combination, batch >= 1 with tfjs' batch broadcasting, odd sizes (partial register
 * tiles), sizes large enough for the multi-threaded and packed paths; outputs and gradients
 * through tf.matMul / tf.fused.matMul, relative error <= 1e-4.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectAllClose, randomValues, runOn, setUpNative, skipReason } from './nativeSupport.ts';
import { native } from './nativeSupport.ts';

const describeNative = skipReason === undefined ? describe : describe.skip;

const dims = fc.record({
  m: fc.integer({ min: 1, max: 70 }),
  n: fc.integer({ min: 1, max: 70 }),
  k: fc.integer({ min: 1, max: 70 }),
  ta: fc.boolean(),
  tb: fc.boolean(),
  seed: fc.integer(),
});

function shapeOf(batch: number[], rows: number, cols: number, transpose: boolean): number[] {
  return [...batch, ...(transpose ? [cols, rows] : [rows, cols])];
}

describeNative(`native matmul kernels vs cpu${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(setUpNative);

  it('BatchMatMul matches the cpu backend for transposes and broadcast batch dims', async () => {
    const batches = fc.constantFrom<[number[], number[]]>(
      [[], []], [[3], [3]], [[2, 3], [2, 3]], [[4], [1]], [[1], [5]], [[2, 3], [1]], [[3], []], [[], [2]],
    );
    await fc.assert(
      fc.asyncProperty(dims, batches, async (d, [ba, bb]) => {
        const av = randomValues(ba.reduce((p, x) => p * x, 1) * d.m * d.k, d.seed);
        const bv = randomValues(bb.reduce((p, x) => p * x, 1) * d.k * d.n, d.seed + 1);
        const f = () => [tf.matMul(tf.tensor(av, shapeOf(ba, d.m, d.k, d.ta)), tf.tensor(bv, shapeOf(bb, d.k, d.n, d.tb)), d.ta, d.tb)];
        expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['c'], `${JSON.stringify(d)} batch ${JSON.stringify([ba, bb])}`);
      }),
      { numRuns: 40 },
    );
  });

  it('matMul gradients match the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(dims, fc.constantFrom<number[]>([], [3]), async (d, batch) => {
        const av = randomValues(batch.reduce((p, x) => p * x, 1) * d.m * d.k, d.seed);
        const bv = randomValues(batch.reduce((p, x) => p * x, 1) * d.k * d.n, d.seed + 1);
        const f = () => {
          const a = tf.tensor(av, shapeOf(batch, d.m, d.k, d.ta));
          const b = tf.tensor(bv, shapeOf(batch, d.k, d.n, d.tb));
          const c = tf.matMul(a, b, d.ta, d.tb);
          const r = tf.tensor(randomValues(c.size, d.seed + 2), c.shape);
          return [c, ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, d.ta, d.tb), r)))([a, b])];
        };
        expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['c', 'da', 'db'], `${JSON.stringify(d)} batch [${batch}]`);
      }),
      { numRuns: 30 },
    );
  });

  it('_FusedMatMul with bias and relu/linear matches the cpu backend, gradients included', async () => {
    await fc.assert(
      fc.asyncProperty(dims, fc.constantFrom('relu' as const, 'linear' as const), async (d, activation) => {
        const av = randomValues(d.m * d.k, d.seed);
        const bv = randomValues(d.k * d.n, d.seed + 1);
        const biasv = randomValues(d.n, d.seed + 3);
        const f = () => {
          const a = tf.tensor2d(av, shapeOf([], d.m, d.k, d.ta) as [number, number]);
          const b = tf.tensor2d(bv, shapeOf([], d.k, d.n, d.tb) as [number, number]);
          const bias = tf.tensor1d(biasv);
          const mm = (p: tf.Tensor, q: tf.Tensor, bi: tf.Tensor) =>
            tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, transposeA: d.ta, transposeB: d.tb, bias: bi, activation });
          const c = mm(a, b, bias);
          const r = tf.tensor(randomValues(c.size, d.seed + 2), c.shape);
          return [c, ...tf.grads((p: tf.Tensor, q: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(mm(p, q, bi), r)))([a, b, bias])];
        };
        expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['c', 'da', 'db', 'dbias'], `${activation} ${JSON.stringify(d)}`);
      }),
      { numRuns: 20 },
    );
  });

  it('_FusedMatMul falls back to the previous kernel for activations it does not fuse', async () => {
    const f = () => [
      tf.fused.matMul({
        a: tf.tensor2d(randomValues(6 * 5, 1), [6, 5]), b: tf.tensor2d(randomValues(5 * 7, 2), [5, 7]),
        bias: tf.tensor1d(randomValues(7, 3)), activation: 'elu',
      }),
    ];
    expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['c'], 'elu fallback');
  });

  it('large products (threaded, packed-A path) match the cpu backend', async () => {
    for (const [m, n, k, ta, tb] of [[300, 520, 130, false, false], [257, 260, 300, true, true], [1100, 40, 70, false, true]] as const) {
      const f = () => [tf.matMul(tf.tensor(randomValues(m * k, m), ta ? [k, m] : [m, k]), tf.tensor(randomValues(k * n, n), tb ? [n, k] : [k, n]), ta, tb)];
      expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['c'], `${m}x${n}x${k} ${ta} ${tb}`);
    }
  });

  it('reads the heap afresh after wasm memory grows between calls', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor2d(randomValues(40 * 30, 7), [40, 30]);
    const b = tf.tensor2d(randomValues(30 * 20, 8), [30, 20]);
    const first = tf.matMul(a, b);
    const big = tf.zeros([64 * 1024 * 1024 / 4 + 123]); // 64 MB: forces the wasm heap to grow
    const second = tf.matMul(a, b);
    expect(Array.from(second.dataSync())).toEqual(Array.from(first.dataSync()));
    tf.dispose([a, b, first, big, second]);
  });

  it('rejects tensor ranges outside the heap with a RangeError', () => {
    const buf = new ArrayBuffer(64);
    let caught: unknown;
    try {
      native.addon!.gemm(buf, 0, 0, 0, -1, 8, 8, 8, 8, 8, 8, 0, 0, 1, 0, 0);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error | undefined)?.name).toBe('RangeError');
    expect((caught as Error).message).toMatch(/outside the heap/);
    expect(() => native.addon!.conv2d(buf, 0, 0, -1, 0, 1, 4, 4, 4, 4, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0)).toThrow(/outside the heap/);
  });
});
