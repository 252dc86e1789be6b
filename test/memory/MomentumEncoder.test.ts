import { describe, it, expect, beforeAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { TestScheduler } from 'rxjs/testing';
import { map } from 'rxjs';
import { MomentumEncoder, DEFAULT_MOMENTUM_ENCODER_CONFIG } from '../../src/memory/MomentumEncoder.ts';
import { updateMomentumEncoder } from '../../src/memory/updateMomentumEncoder.ts';
import { ArgumentError, StateError } from '../../src/errors.ts';
import { useCpu } from './support.ts';

const shapes = fc.array(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 3 });
const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);
const valuesFor = (shape: number[]) => fc.array(fc.double({ min: -3, max: 3, noNaN: true }).map(Math.fround), { minLength: sizeOf(shape), maxLength: sizeOf(shape) });

describe('MomentumEncoder', () => {
  beforeAll(useCpu);

  it('follows theta_k <- m theta_k + (1 - m) theta_q at every step, while the query moves', () => {
    fc.assert(
      fc.property(
        shapes.chain((ss) =>
          fc.tuple(
            fc.constant(ss),
            fc.oneof(fc.constantFrom(0, 0.5, 0.999, 1), fc.double({ min: 0, max: 1, noNaN: true })),
            fc.tuple(...ss.map(valuesFor)),
            fc.array(fc.tuple(...ss.map(valuesFor)), { minLength: 1, maxLength: 4 }),
          ),
        ),
        ([ss, m, init, queries]) => {
          const q = ss.map((s, i) => tf.variable(tf.tensor(init[i], s)));
          const enc = MomentumEncoder.fromQuery(q, { momentum: m });
          const before = tf.memory().numTensors;
          let ref = init.map((v) => v.slice()); // theta_k = theta_q at start
          expect(enc.keyVariables.map((k) => Array.from(k.dataSync()))).toEqual(ref.map((v) => Array.from(Float32Array.from(v))));
          expect(enc.keyVariables.every((k) => !k.trainable)).toBe(true);
          for (const qv of queries) {
            q.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(qv[i], ss[i]))));
            enc.update();
            ref = ref.map((k, i) => k.map((x, j) => m * x + (1 - m) * qv[i][j]));
            enc.keyVariables.forEach((k, i) => {
              const got = k.dataSync();
              ref[i].forEach((x, j) => expect(Math.abs(got[j] - x)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(x))));
            });
          }
          expect(enc.steps).toBe(queries.length);
          expect(tf.memory().numTensors).toBe(before);
          enc.dispose();
          q.forEach((v) => v.dispose());
        },
      ),
      { numRuns: 40 },
    );
    expect(DEFAULT_MOMENTUM_ENCODER_CONFIG.momentum).toBe(0.999);
  });

  it('round-trips its state (key parameters, momentum, step count) through state() and JSON', () => {
    const q: tf.Variable[] = [tf.variable(tf.tensor2d([[1, 2], [3, 4]])), tf.variable(tf.tensor1d([5]))];
    const enc = MomentumEncoder.fromQuery(q, { momentum: 0.9 });
    q[0].assign(tf.tensor2d([[0, 0], [0, 0]]));
    enc.update();
    enc.update();
    const copy = MomentumEncoder.fromState(q, enc.state());
    const viaJson = MomentumEncoder.fromJSON(q, JSON.parse(JSON.stringify(enc)));
    expect(copy.state()).toEqual(enc.state());
    expect(viaJson.state()).toEqual(enc.state());
    expect(viaJson.steps).toBe(2);
    const other = MomentumEncoder.fromQuery(q, { momentum: 0.5 });
    expect(() => other.loadState(enc.state())).toThrow(/momentum 0.9, this encoder 0.5/);
    expect(() => enc.loadState({ ...enc.state(), shapes: [[4], [1]] })).toThrow(StateError);
    [enc, copy, viaJson, other].forEach((e) => e.dispose());
    q.forEach((v) => v.dispose());
  });

  it('owns (and disposes) only the key variables it created', () => {
    const q = [tf.variable(tf.scalar(1))];
    const k = [tf.variable(tf.scalar(0))];
    const mine = new MomentumEncoder(q, k);
    mine.dispose();
    expect(k[0].isDisposed).toBe(false);
    const owned = MomentumEncoder.fromQuery(q);
    const keys = owned.keyVariables.slice();
    owned.dispose();
    expect(keys[0].isDisposed).toBe(true);
    expect(q[0].isDisposed).toBe(false);
    expect(() => owned.update()).toThrow(/MomentumEncoder.update: a key variable was disposed/);
    tf.dispose([q[0], k[0]]);
  });

  it('checks its arguments', () => {
    const a = tf.variable(tf.zeros([2]));
    const b = tf.variable(tf.zeros([3]));
    expect(() => new MomentumEncoder([a], [b])).toThrow(/MomentumEncoder: argument 'key\[0\]' has shape \[3\] but query\[0\] has \[2\]/);
    expect(() => new MomentumEncoder([a], [a])).toThrow(/is also a key variable/);
    expect(() => MomentumEncoder.fromQuery([a], { momentum: 2 })).toThrow(/argument 'config.momentum' must be a number in \[0, 1\]/);
    expect(() => MomentumEncoder.fromQuery([])).toThrow(ArgumentError);
    tf.dispose([a, b]);
  });
});

describe('updateMomentumEncoder', () => {
  beforeAll(useCpu);

  it('applies one EMA update per step, after it, and passes values through (marbles)', () => {
    const q = [tf.variable(tf.scalar(1))];
    const enc = MomentumEncoder.fromQuery(q, { momentum: 0.5 }); // theta_k = 1
    q[0].assign(tf.scalar(0)); // theta_q = 0: each update halves theta_k
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('-a--b-c|').pipe(
        updateMomentumEncoder({ encoder: enc, when: (v) => v !== 'b' }), // 'b' is not an optimizer step
        map((v) => `${v}:${enc.keyVariables[0].dataSync()[0]}`),
      );
      expectObservable(out).toBe('-x--y-z|', { x: 'a:0.5', y: 'b:0.5', z: 'c:0.25' });
    });
    expect(enc.steps).toBe(2);
    enc.dispose();
    q[0].dispose();
  });

  it('sends a failed update through the stream as an error (marbles)', () => {
    const q = [tf.variable(tf.scalar(1))];
    const enc = MomentumEncoder.fromQuery(q);
    enc.dispose();
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|').pipe(updateMomentumEncoder({ encoder: enc }))).toBe('-#', undefined, new StateError('MomentumEncoder.update: a key variable was disposed'));
    });
    q[0].dispose();
  });
});
