import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { useCpu, values, expectClose } from '../models/support.ts';
import { sgd } from '../../src/optim/sgd.ts';
import { excludeBiasAndNorm, type ParameterGradient } from '../../src/optim/optimizer.ts';
import { ArgumentError, StateError } from '../../src/errors.ts';

/** torch.optim.SGD's update, written from its documentation, on plain arrays. */
function sgdSlow(theta: number[], grads: number[][], o: { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean }) {
  let p = theta.slice();
  let buf: number[] | undefined;
  for (const grad of grads) {
    let g = grad.map((v, i) => v + o.weightDecay * p[i]);
    if (o.momentum !== 0) {
      buf = buf === undefined ? g.slice() : buf.map((b, i) => o.momentum * b + (1 - o.dampening) * g[i]);
      g = o.nesterov ? g.map((v, i) => v + o.momentum * buf![i]) : buf.slice();
    }
    p = p.map((v, i) => v - o.lr * g[i]);
  }
  return p;
}

function step(opt: ReturnType<typeof sgd>, v: tf.Variable, g: number[], name = 'w') {
  const gradient = tf.tensor(g, v.shape);
  opt.applyGradients([{ name, variable: v, gradient }]);
  gradient.dispose();
}

describe('optim: SGD', () => {
  beforeAll(useCpu);

  it('matches PyTorch on a hand-computed example (momentum 0.9, weight decay 0.01, with and without Nesterov)', () => {
    // θ0 = (1, −2), ∇1 = (0.5, 0.25), ∇2 = (−1, 2), lr 0.1.
    // Plain momentum:  g1 = ∇1 + 0.01·θ0 = (0.51, 0.23), b1 = g1, θ1 = θ0 − 0.1·b1 = (0.949, −2.023)
    //                  g2 = ∇2 + 0.01·θ1 = (−0.99051, 1.97977), b2 = 0.9·b1 + g2 = (−0.53151, 2.18677)
    //                  θ2 = θ1 − 0.1·b2 = (1.002151, −2.241677)
    // Nesterov:        θ1 = θ0 − 0.1·(g1 + 0.9·b1) = (0.9031, −2.0437)
    //                  g2 = (−0.990969, 1.979563), b2 = (−0.531969, 2.186563)
    //                  θ2 = θ1 − 0.1·(g2 + 0.9·b2) = (1.05007411, −2.43844697)
    // (Checked against torch.optim.SGD 1.13.)
    for (const [nesterov, e1, e2] of [
      [false, [0.949, -2.023], [1.002151, -2.241677]],
      [true, [0.9031, -2.0437], [1.05007411, -2.43844697]],
    ] as const) {
      const v = tf.variable(tf.tensor1d([1, -2]));
      const opt = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov });
      step(opt, v, [0.5, 0.25]);
      expectClose(values(v), e1, 1e-6, 'step 1');
      step(opt, v, [-1, 2]);
      expectClose(values(v), e2, 1e-6, 'step 2');
      expect(opt.iterations).toBe(2);
      opt.dispose();
      v.dispose();
    }
    // Dampening 0.5 (not applied on the first step, as PyTorch): θ1 = (0.95, −2.025), θ2 = (0.955, −2.1475).
    const v = tf.variable(tf.tensor1d([1, -2]));
    const opt = sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 });
    step(opt, v, [0.5, 0.25]);
    step(opt, v, [-1, 2]);
    expectClose(values(v), [0.955, -2.1475], 1e-6, 'dampening');
    opt.dispose();
    v.dispose();
  });

  it('matches the slow PyTorch loop on random configurations', () => {
    fc.assert(
      fc.property(
        fc.record({
          lr: fc.double({ min: 0, max: 1, noNaN: true }),
          momentum: fc.constantFrom(0, 0.5, 0.9),
          dampening: fc.constantFrom(0, 0.1),
          weightDecay: fc.constantFrom(0, 1e-4, 0.1),
          nesterov: fc.boolean(),
          theta: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 1, maxLength: 5 }),
          steps: fc.integer({ min: 1, max: 4 }),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        (o) => {
          const nesterov = o.nesterov && o.momentum > 0 && o.dampening === 0;
          let s = o.seed;
          const grads = Array.from({ length: o.steps }, () => o.theta.map(() => ((s = (s * 16807) % 2147483647) / 2147483647) * 4 - 2));
          const theta = Array.from(Float32Array.from(o.theta));
          const v = tf.variable(tf.tensor1d(theta));
          const opt = sgd({ ...o, nesterov });
          for (const g of grads) step(opt, v, g);
          expectClose(values(v), sgdSlow(theta, grads, { ...o, nesterov }), 1e-4, 'sgd');
          opt.dispose();
          v.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('weightDecayFilter skips chosen parameters; the learning rate can be a schedule of the step', () => {
    const w = tf.variable(tf.tensor2d([[1, 1]]));
    const b = tf.variable(tf.tensor1d([1, 1]));
    const lrs: number[] = [];
    const opt = sgd({ lr: (t) => (lrs.push(t), 0.5 / (t + 1)), weightDecay: 0.1, weightDecayFilter: (n, v) => !excludeBiasAndNorm(n, v) });
    const zeros = (v: tf.Variable): ParameterGradient => ({ name: v === w ? 'w' : 'b', variable: v, gradient: tf.zerosLike(v) });
    for (let i = 0; i < 2; i++) {
      const g = [zeros(w), zeros(b)];
      opt.applyGradients(g);
      tf.dispose(g.map((x) => x.gradient));
    }
    expect(lrs).toEqual([0, 1]);
    expectClose(values(w), [(1 - 0.5 * 0.1) * (1 - 0.25 * 0.1), (1 - 0.5 * 0.1) * (1 - 0.25 * 0.1)], 1e-6, 'decayed');
    expect(values(b)).toEqual([1, 1]);
    tf.dispose([w, b]);
    opt.dispose();
  });

  it('getState/setState round-trip (typed arrays) resumes identically; bad state is refused', () => {
    const make = () => tf.variable(tf.tensor1d([0.3, -0.7, 1.1]));
    const a = make();
    const opt = sgd({ lr: 0.05, momentum: 0.9, nesterov: true });
    step(opt, a, [1, 2, 3]);
    step(opt, a, [-1, 0.5, 0]);
    const state = opt.getState();
    expect(state.kind).toBe('sgd');
    expect(state.iterations).toBe(2);
    expect(state.slots.w.momentum.values).toBeInstanceOf(Float32Array);
    const b = tf.variable(a.clone());
    const opt2 = sgd({ lr: 0.05, momentum: 0.9, nesterov: true });
    opt2.setState(structuredClone(state));
    step(opt, a, [0.2, 0.2, -0.4]);
    step(opt2, b, [0.2, 0.2, -0.4]);
    expect(values(b)).toEqual(values(a));
    expect(() => opt2.setState({ ...state, kind: 'adam' })).toThrow(StateError);
    expect(() => opt2.setState({ ...state, slots: { w: { momentum: { shape: [4], values: new Float32Array(3) } } } })).toThrow(StateError);
    // A slot whose shape does not fit the parameter is caught at the next update.
    opt2.setState({ ...state, slots: { w: { momentum: { shape: [2], values: new Float32Array(2) } } } });
    expect(() => step(opt2, b, [0, 0, 0])).toThrow(StateError);
    tf.dispose([a, b]);
    opt.dispose();
    opt2.dispose();
  });

  it('checks its arguments and frees every intermediate', () => {
    expect(() => sgd({ lr: -1 })).toThrow(ArgumentError);
    expect(() => sgd({ lr: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => sgd({ lr: 0.1, momentum: -0.1 })).toThrow(/momentum/);
    const v = tf.variable(tf.ones([3, 2]));
    const opt = sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const g = tf.ones([3, 2]);
    opt.applyGradients([{ name: 'v', variable: v, gradient: g }]);
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.applyGradients([{ name: 'v', variable: v, gradient: g }]);
    expect(tf.memory().numTensors).toBe(after1);
    const wrong = tf.ones([2, 3]);
    expect(() => opt.applyGradients([{ name: 'v', variable: v, gradient: wrong }])).toThrow(/shape/);
    tf.dispose([v, g, wrong]);
    opt.dispose();
  });
});
