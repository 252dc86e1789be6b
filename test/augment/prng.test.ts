import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Rng, mix32, seedWord } from '../../src/internal/prng.ts';

describe('Rng', () => {
  it('is a pure function of its key', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.nat(), fc.nat(), (a, b, c, d) => {
        const x = new Rng(a, b, c, d);
        const y = new Rng(a, b, c, d);
        for (let i = 0; i < 20; i++) expect(x.nextU32()).toBe(y.nextU32());
      }),
      { numRuns: 50 },
    );
  });

  it('different keys give different streams', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(new Rng(7, 0, i, 0).nextU32());
    expect(seen.size).toBeGreaterThan(1995);
    expect(new Rng(1, 0, 0, 0).nextU32()).not.toBe(new Rng(0, 1, 0, 0).nextU32());
  });

  it('uniform, int and next stay in range; int is roughly uniform', () => {
    const r = new Rng(3);
    const counts = new Array(7).fill(0);
    let bad = 0;
    for (let i = 0; i < 70000; i++) {
      const v = r.next();
      if (!(v >= 0 && v < 1)) bad++;
      const u = r.uniform(-2, 5);
      if (!(u >= -2 && u < 5)) bad++;
      counts[r.int(3, 10) - 3]++;
    }
    expect(bad).toBe(0);
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500); // ~5 sigma
  });

  it('permutation is a permutation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer(), (n, seed) => {
        const p = Array.from(new Rng(seed).permutation(n)).sort((a, b) => a - b);
        expect(p).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      { numRuns: 50 },
    );
  });

  it('folds large and negative seeds into 32 bits', () => {
    expect(seedWord(5)).toBe(5);
    expect(seedWord(2 ** 40 + 5)).not.toBe(seedWord(5));
    expect(seedWord(-1)).not.toBe(seedWord(1));
    expect(seedWord(-1) >>> 0).toBe(seedWord(-1));
    expect(mix32(0)).toBe(0);
    expect(mix32(1)).not.toBe(1);
  });
});
