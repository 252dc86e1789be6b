/**
 * Seeded pseudo-random numbers for the data plane.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state,
 * passes PractRand to 2^50+ bytes), seeded from a key of up to four 32-bit words hashed with
 * the splitmix32-style finaliser of `mix32`. Every stream is keyed by what it is for, e.g.
 * `(seed, epoch, sampleIndex, view)`, so the numbers a sample gets never depend on which
 * worker or chunk processes it: that is what makes augmentation bit-identical on any pool
 * size. All arithmetic is 32-bit integer (`Math.imul`, `>>> 0`), so results are identical on
 * every JS engine.
 */

/** 32-bit avalanche finaliser (lowbias32, Wellons 2018). */
export function mix32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Folds any finite number (e.g. a seed above 2^32, or a negative one) into 32 bits. */
export function seedWord(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
  const s = Math.trunc(seed);
  const lo = s >>> 0;
  const hi = Math.floor(s / 4294967296) >>> 0;
  return hi === 0 ? lo : mix32(lo ^ mix32(hi + 0x9e3779b9));
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream keyed by up to four integers (each folded to 32 bits). */
  constructor(k0: number, k1 = 0, k2 = 0, k3 = 0) {
    let h = 0x243f6a88;
    const words = [seedWord(k0), seedWord(k1), seedWord(k2), seedWord(k3)];
    const st = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      h = mix32(h ^ words[i]);
      h = mix32(h + 0x9e3779b9 + i);
      st[i] = h;
    }
    this.a = st[0];
    this.b = st[1];
    this.c = st[2];
    this.d = st[3] | 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 bits of resolution. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi) (torch.empty(1).uniform_(lo, hi)). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [lo, hi) (torch.randint(lo, hi)); unbiased (rejection). */
  int(lo: number, hi: number): number {
    const n = hi - lo;
    if (!(n >= 1)) throw new RangeError(`Rng.int: empty range [${lo}, ${hi})`);
    if (n === 1) return lo;
    if (n <= 4294967296) {
      const limit = 4294967296 - (4294967296 % n);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return lo + (x % n);
    }
    return lo + Math.floor(this.next() * n);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }
}
