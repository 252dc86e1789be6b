/**
 * Seeded weight initialisation. A `SeededRandom` is a mulberry32 generator (32-bit state,
 * period 2^32) with Marsaglia polar normals: small, fast and reproducible on every platform, which
 * is all weight initialisation needs. Models take one generator and draw from it in
 * construction order, so `resnet18({ seed: 1 })` builds the same weights on every run.
 *
 * Initialisers (He et al. 2015, "Delving Deep into Rectifiers"):
 *   heNormal:  w ~ N(0, 2 / fan),  fan = fan_out (torchvision's ResNet) or fan_in
 *   uniform:   w ~ U(-b, b)        (PyTorch's nn.Linear default uses b = 1/sqrt(fan_in))
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../errors.ts';

export class SeededRandom {
  private state: number;
  private spare: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new ArgumentError('SeededRandom', 'seed', `must be a finite number, got ${seed}`);
    // Mix the seed once so nearby seeds give unrelated streams.
    this.state = mix32(Math.floor(seed) >>> 0 ^ 0x9e3779b9);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal N(0, 1) (Marsaglia's polar method, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * f;
    return u * f;
  }

  /** A new generator seeded from this one (for independent sub-streams). */
  fork(): SeededRandom {
    return new SeededRandom(Math.floor(this.next() * 4294967296));
  }
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

let defaultRandom = new SeededRandom(0);

/**
 * Reseeds the generator used by layers built without `rng` or `seed` (like torch.manual_seed).
 */
export function setDefaultSeed(seed: number): void {
  defaultRandom = new SeededRandom(seed);
}

/** The generator a layer should use: its own `rng`, a fresh one from `seed`, else the default. */
export function resolveRandom(rng: SeededRandom | undefined, seed: number | undefined): SeededRandom {
  if (rng !== undefined) return rng;
  if (seed !== undefined) return new SeededRandom(seed);
  return defaultRandom;
}

/** `n` samples of N(0, std²). */
export function normalValues(rng: SeededRandom, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

/** `n` samples of U(-bound, bound). */
export function uniformValues(rng: SeededRandom, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/** A tensor filled with `values` (owned by the caller). */
export function tensorFrom(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tensor(values, shape, 'float32');
}
