/**
 * Native Conv2D / FusedConv2D / Conv2DBackpropFilter / Conv2DBackpropInput on the wasm backend
 * against the cpu backend: outputs and tfjs gradients (tf.grads through tf.conv2d and
 * tf.fused.conv2d) over random shapes (strides 1-2, 'same', 'valid' and explicit pads, kernels
 * 1-7, odd sizes, channel counts that leave partial register tiles), relative error <= 1e-4.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectAllClose, randomValues, runOn, setUpNative, skipReason, stockWasm } from './nativeSupport.ts';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

interface ConvCase {
  b: number; h: number; w: number; ci: number; co: number; kh: number; kw: number;
  sh: number; sw: number; pad: Pad; seed: number;
}

function outSize(n: number, k: number, s: number, lo: number, hi: number): number {
  return Math.floor((n + lo + hi - k) / s) + 1;
}

const padArb: fc.Arbitrary<Pad> = fc.oneof(
  fc.constant('same' as const),
  fc.constant('valid' as const),
  fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)).map(([t, bo, l, r]) => [[0, 0], [t, bo], [l, r], [0, 0]] as Pad),
);

const convCase: fc.Arbitrary<ConvCase> = fc
  .record({
    b: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 11 }),
    ci: fc.integer({ min: 1, max: 20 }),
    co: fc.integer({ min: 1, max: 40 }),
    kh: fc.integer({ min: 1, max: 7 }),
    kw: fc.integer({ min: 1, max: 7 }),
    sh: fc.integer({ min: 1, max: 2 }),
    sw: fc.integer({ min: 1, max: 2 }),
    pad: padArb,
    seed: fc.integer(),
  })
  .filter((c) => {
    if (c.pad === 'same') return true;
    const [t, bo] = c.pad === 'valid' ? [0, 0] : c.pad[1];
    const [l, r] = c.pad === 'valid' ? [0, 0] : c.pad[2];
    return outSize(c.h, c.kh, c.sh, t, bo) >= 1 && outSize(c.w, c.kw, c.sw, l, r) >= 1;
  });

const describeNative = skipReason === undefined ? describe : describe.skip;

describeNative(`native conv kernels vs cpu${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  beforeAll(setUpNative);

  it('Conv2D output and both gradients match the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const xv = randomValues(c.b * c.h * c.w * c.ci, c.seed);
        const wv = randomValues(c.kh * c.kw * c.ci * c.co, c.seed + 1);
        const f = () => {
          const x = tf.tensor4d(xv, [c.b, c.h, c.w, c.ci]);
          const w = tf.tensor4d(wv, [c.kh, c.kw, c.ci, c.co]);
          const y = tf.conv2d(x, w, [c.sh, c.sw], c.pad);
          const r = tf.tensor(randomValues(y.size, c.seed + 2), y.shape);
          const loss = (a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [c.sh, c.sw], c.pad), r));
          const [dx, dw] = tf.grads(loss)([x, w]);
          return [y, dx, dw];
        };
        const expected = await runOn('cpu', f);
        const actual = await runOn('wasm', f);
        expectAllClose(actual, expected, ['y', 'dx', 'dw'], JSON.stringify(c));
      }),
      { numRuns: 30 },
    );
  });

  it('Conv2D gradients match with wide channels (Ci multiple of the register width) and >64 taps', async () => {
    const wide = convCase
      .chain((c) => fc.record({ ci: fc.constantFrom(32, 64), co: fc.constantFrom(32, 45, 64) }).map((w) => ({ ...c, ...w, b: Math.min(c.b, 2), h: Math.min(c.h, 8), w: Math.min(c.w, 8) })))
      .filter((c) => {
        if (c.pad === 'same') return true;
        const [t, bo] = c.pad === 'valid' ? [0, 0] : c.pad[1];
        const [l, r] = c.pad === 'valid' ? [0, 0] : c.pad[2];
        return outSize(c.h, c.kh, c.sh, t, bo) >= 1 && outSize(c.w, c.kw, c.sw, l, r) >= 1;
      });
    const big: ConvCase = { b: 1, h: 10, w: 11, ci: 3, co: 5, kh: 9, kw: 9, sh: 1, sw: 2, pad: 'same', seed: 4 };
    const check = async (c: ConvCase) => {
      const xv = randomValues(c.b * c.h * c.w * c.ci, c.seed);
      const wv = randomValues(c.kh * c.kw * c.ci * c.co, c.seed + 1);
      const f = () => {
        const x = tf.tensor4d(xv, [c.b, c.h, c.w, c.ci]);
        const w = tf.tensor4d(wv, [c.kh, c.kw, c.ci, c.co]);
        const y = tf.conv2d(x, w, [c.sh, c.sw], c.pad);
        const r = tf.tensor(randomValues(y.size, c.seed + 2), y.shape);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [c.sh, c.sw], c.pad), r)))([x, w]);
        return [y, dx, dw];
      };
      expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['y', 'dx', 'dw'], JSON.stringify(c));
    };
    await check(big);
    await fc.assert(fc.asyncProperty(wide, check), { numRuns: 10 });
  });

  it('dilated Conv2D (stride 1) matches the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          h: fc.integer({ min: 5, max: 12 }), ci: fc.integer({ min: 1, max: 9 }), co: fc.integer({ min: 1, max: 35 }),
          k: fc.integer({ min: 1, max: 3 }), d: fc.integer({ min: 2, max: 3 }),
          pad: fc.constantFrom('same' as const, 'valid' as const), seed: fc.integer(),
        }).filter((c) => c.pad === 'same' || c.h >= (c.k - 1) * c.d + 1),
        async (c) => {
          const f = () => [
            tf.conv2d(
              tf.tensor4d(randomValues(2 * c.h * c.h * c.ci, c.seed), [2, c.h, c.h, c.ci]),
              tf.tensor4d(randomValues(c.k * c.k * c.ci * c.co, c.seed + 1), [c.k, c.k, c.ci, c.co]),
              1, c.pad, 'NHWC', [c.d, c.d],
            ),
          ];
          expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['y'], JSON.stringify(c));
        },
      ),
      { numRuns: 10 },
    );
  });

  it('FusedConv2D with bias and relu/linear matches the cpu backend, gradients included', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, fc.constantFrom('relu' as const, 'linear' as const), fc.boolean(), async (c, activation, withBias) => {
        const xv = randomValues(c.b * c.h * c.w * c.ci, c.seed);
        const wv = randomValues(c.kh * c.kw * c.ci * c.co, c.seed + 1);
        const bv = randomValues(c.co, c.seed + 3);
        const f = () => {
          const x = tf.tensor4d(xv, [c.b, c.h, c.w, c.ci]);
          const w = tf.tensor4d(wv, [c.kh, c.kw, c.ci, c.co]);
          const bias = tf.tensor1d(bv);
          const conv = (a: tf.Tensor, b: tf.Tensor, bi: tf.Tensor) =>
            tf.fused.conv2d({
              x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: [c.sh, c.sw], pad: c.pad,
              bias: withBias ? bi : undefined, activation,
            });
          const y = conv(x, w, bias);
          const r = tf.tensor(randomValues(y.size, c.seed + 2), y.shape);
          const grads = withBias
            ? tf.grads((a: tf.Tensor, b: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(conv(a, b, bi), r)))([x, w, bias])
            : tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b, bias), r)))([x, w]);
          return [y, ...grads];
        };
        expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['y', 'dx', 'dw', 'dbias'], `${activation} ${JSON.stringify(c)}`);
      }),
      { numRuns: 20 },
    );
  });

  it('FusedConv2D falls back to the previous kernel for activations it does not fuse', async () => {
    const f = () => [
      tf.fused.conv2d({
        x: tf.tensor4d(randomValues(2 * 6 * 6 * 3, 1), [2, 6, 6, 3]),
        filter: tf.tensor4d(randomValues(3 * 3 * 3 * 5, 2), [3, 3, 3, 5]),
        strides: 1, pad: 'same', bias: tf.tensor1d(randomValues(5, 3)),
        activation: 'leakyrelu', leakyreluAlpha: 0.3,
      }),
    ];
    expectAllClose(await runOn('wasm', f), await runOn('cpu', f), ['y'], 'leakyrelu fallback');
  });

  it('matches the stock wasm forward convolution on the reference layer shapes', async () => {
    // Layers of the benchmark CNN at batch 2: checks the large-channel paths (no small-Ci
    // gather, several register panels) against XNNPACK.
    for (const [size, ci, co, s] of [[32, 3, 32, 1], [32, 32, 64, 2], [16, 64, 128, 2], [8, 128, 128, 1]]) {
      const f = () => [
        tf.conv2d(
          tf.tensor4d(randomValues(2 * size * size * ci, size + ci), [2, size, size, ci]),
          tf.tensor4d(randomValues(9 * ci * co, co), [3, 3, ci, co]),
          s, 'same',
        ),
      ];
      const ours = await runOn('wasm', f);
      const stock = stockWasm.get('Conv2D');
      expect(stock).toBeDefined();
      const ourConfig = tf.getKernel('Conv2D', 'wasm')!;
      tf.unregisterKernel('Conv2D', 'wasm');
      tf.registerKernel(stock!);
      let theirs: Float32Array[];
      try {
        theirs = await runOn('wasm', f);
      } finally {
        tf.unregisterKernel('Conv2D', 'wasm');
        tf.registerKernel(ourConfig);
      }
      expectAllClose(ours, theirs, ['y'], `layer ${size}x${size}x${ci}->${co}/${s}`);
    }
  });

  it('leaves tf.memory().numTensors flat over repeated forward/backward passes', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(randomValues(2 * 9 * 9 * 4, 5), [2, 9, 9, 4]);
    const w = tf.variable(tf.tensor4d(randomValues(3 * 3 * 4 * 6, 6), [3, 3, 4, 6]));
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, 2, 'same'))) as tf.Scalar, [w]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });
});
