import { describe, it, beforeAll, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { useCpu, values, expectClose } from '../models/support.ts';
import { adam, adamw } from '../../src/optim/adam.ts';
import { lars } from '../../src/optim/lars.ts';
import type { Optimizer } from '../../src/optim/optimizer.ts';

/** torch.optim.Adam / AdamW, from their documentation, on plain arrays. */
function adamSlow(theta: number[], grads: number[][], o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean }) {
  let p = theta.slice();
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  grads.forEach((grad, k) => {
    const t = k + 1;
    const g = grad.map((x, i) => (o.decoupled ? x : x + o.wd * p[i]));
    if (o.decoupled) p = p.map((x) => x * (1 - o.lr * o.wd));
    m = m.map((x, i) => o.b1 * x + (1 - o.b1) * g[i]);
    v = v.map((x, i) => o.b2 * x + (1 - o.b2) * g[i] * g[i]);
    p = p.map((x, i) => x - (o.lr * (m[i] / (1 - o.b1 ** t))) / (Math.sqrt(v[i] / (1 - o.b2 ** t)) + o.eps));
  });
  return p;
}

/** SimCLR's LARS, from its reference implementation, on plain arrays (one non-excluded tensor). */
function larsSlow(theta: number[], grads: number[][], o: { lr: number; mu: number; wd: number; eta: number; nesterov: boolean; excluded: boolean }) {
  let p = theta.slice();
  let v = p.map(() => 0);
  for (const grad of grads) {
    let g = grad.slice();
    let lr = o.lr;
    if (!o.excluded) {
      g = g.map((x, i) => x + o.wd * p[i]);
      const wn = Math.hypot(...p);
      const gn = Math.hypot(...g);
      lr *= wn > 0 && gn > 0 ? (o.eta * wn) / gn : 1;
    }
    v = v.map((x, i) => o.mu * x + lr * g[i]);
    const upd = o.nesterov ? v.map((x, i) => o.mu * x + lr * g[i]) : v;
    p = p.map((x, i) => x - upd[i]);
  }
  return p;
}

function run(opt: Optimizer, theta: number[], grads: number[][], shape: number[]) {
  const v = tf.variable(tf.tensor(theta, shape));
  for (const g of grads) {
    const t = tf.tensor(g, shape);
    opt.applyGradients([{ name: 'p', variable: v, gradient: t }]);
    t.dispose();
  }
  const out = values(v);
  v.dispose();
  opt.dispose();
  return out;
}

// Magnitudes below 1e-3 become 0: float32 squares of denormals underflow, doubles' do not.
const vec = fc.array(fc.double({ min: -2, max: 2, noNaN: true }).map((x) => (Math.abs(x) < 1e-3 ? 0 : x)), { minLength: 2, maxLength: 6 });
const f32 = (a: number[]) => Array.from(Float32Array.from(a));

describe('optim: Adam, AdamW, LARS', () => {
  beforeAll(useCpu);

  it('Adam and AdamW match the slow PyTorch loop', () => {
    fc.assert(
      fc.property(vec, fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 0.01), fc.boolean(), fc.integer({ min: 1, max: 999 }), (theta0, steps, wd, decoupled, seed) => {
        const theta = f32(theta0);
        let s = seed;
        const grads = Array.from({ length: steps }, () => f32(theta.map(() => ((s = (s * 48271) % 2147483647) / 2147483647) * 2 - 1)));
        const o = { lr: 0.01, b1: 0.9, b2: 0.999, eps: 1e-8, wd, decoupled };
        const opt = decoupled ? adamw({ lr: 0.01, weightDecay: wd }) : adam({ lr: 0.01, weightDecay: wd });
        expectClose(run(opt, theta, grads, [theta.length]), adamSlow(theta, grads, o), 1e-5, 'adam');
      }),
      { numRuns: 30 },
    );
  });

  it('LARS matches SimCLR’s LARS; rank-1 parameters skip decay and trust ratio', () => {
    fc.assert(
      fc.property(vec, fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 999 }), (theta0, steps, nesterov, matrix, seed) => {
        const theta = f32(theta0);
        let s = seed;
        const grads = Array.from({ length: steps }, () => f32(theta.map(() => ((s = (s * 48271) % 2147483647) / 2147483647) * 2 - 1)));
        const o = { lr: 0.3, mu: 0.9, wd: 1e-3, eta: 0.001, nesterov, excluded: !matrix };
        const opt = lars({ lr: 0.3, momentum: 0.9, weightDecay: 1e-3, nesterov });
        const shape = matrix ? [1, theta.length] : [theta.length];
        expectClose(run(opt, theta, grads, shape), larsSlow(theta, grads, o), 1e-5, 'lars');
      }),
      { numRuns: 30 },
    );
  });

  it('Adam state round-trips through getState/setState', () => {
    const a = adam({ lr: 0.1 });
    const v = tf.variable(tf.tensor1d([1, 2]));
    const g = tf.tensor1d([0.5, -0.5]);
    a.applyGradients([{ name: 'v', variable: v, gradient: g }]);
    const b = adam({ lr: 0.1 });
    b.setState(a.getState());
    expect(b.getState()).toEqual(a.getState());
    expect(Object.keys(b.getState().slots.v).sort()).toEqual(['m', 'v']);
    tf.dispose([v, g]);
    a.dispose();
    b.dispose();
  });
});
