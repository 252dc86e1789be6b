import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { firstValueFrom, take, toArray, lastValueFrom } from 'rxjs';
import { fromArrays } from '../../src/sources/fromArrays.ts';
import { ArgumentError } from '../../src/errors.ts';

const W = 3;
const H = 2;
const C = 1;
function data(n: number) {
  const images = new Uint8Array(n * W * H * C);
  for (let i = 0; i < n; i++) images.fill(i & 255, i * 6, (i + 1) * 6);
  return { images, width: W, height: H, channels: C, labels: Array.from({ length: n }, (_, i) => i % 3) };
}

async function all<T>(src: import('rxjs').Observable<T>): Promise<T[]> {
  return lastValueFrom(src.pipe(toArray()));
}

describe('fromArrays', () => {
  it('emits every image in order with its label; pixels are views of the input', async () => {
    const d = data(5);
    const out = await all(fromArrays(d));
    expect(out.map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    expect(out.map((s) => s.label)).toEqual([0, 1, 2, 0, 1]);
    expect(out.every((s) => s.pixels.buffer === d.images.buffer && s.pixels[0] === s.index)).toBe(true);
    expect(out[0]).toMatchObject({ width: W, height: H, channels: C, epoch: 0 });
  });

  it('accepts one array per image', async () => {
    const imgs = [new Uint8Array(6).fill(1), new Uint8Array(6).fill(2)];
    const out = await all(fromArrays({ images: imgs, width: 3, height: 2, channels: 1 }));
    expect(out.map((s) => s.pixels[0])).toEqual([1, 2]);
  });

  it('shuffles anew every epoch, deterministically from the seed, and each epoch is a permutation of the subset', () => {
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), fc.integer(), fc.integer({ min: 0, max: 40 }), async (n, epochs, seed, sub) => {
        const cfg = { shuffle: true, seed, epochs, subset: Math.min(sub, n) };
        const a = await all(fromArrays(data(n), cfg));
        const b = await all(fromArrays(data(n), cfg));
        expect(a.map((s) => s.index)).toEqual(b.map((s) => s.index));
        const m = Math.min(sub, n);
        expect(a.length).toBe(m * epochs);
        for (let e = 0; e < epochs; e++) {
          const ep = a.slice(e * m, (e + 1) * m);
          expect(ep.every((s) => s.epoch === e)).toBe(true);
          expect(ep.map((s) => s.index).sort((x, y) => x - y)).toEqual(Array.from({ length: m }, (_, i) => i));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('different epochs and seeds give different orders', async () => {
    const a = await all(fromArrays(data(50), { shuffle: true, seed: 1, epochs: 2 }));
    const e0 = a.slice(0, 50).map((s) => s.index);
    const e1 = a.slice(50).map((s) => s.index);
    expect(e0).not.toEqual(e1);
    const c = await all(fromArrays(data(50), { shuffle: true, seed: 2 }));
    expect(c.map((s) => s.index)).not.toEqual(e0);
  });

  it('subset: explicit indices and a random draw', async () => {
    const a = await all(fromArrays(data(10), { subset: [7, 2, 2] }));
    expect(a.map((s) => s.index)).toEqual([7, 2, 2]);
    const r1 = await all(fromArrays(data(100), { subset: { count: 10, random: true }, seed: 4 }));
    const r2 = await all(fromArrays(data(100), { subset: { count: 10, random: true }, seed: 4 }));
    expect(r1.map((s) => s.index)).toEqual(r2.map((s) => s.index));
    expect(new Set(r1.map((s) => s.index)).size).toBe(10);
    expect(r1.map((s) => s.index)).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is cold, pullable, and stops on unsubscribe (an endless source)', async () => {
    const src = fromArrays(data(3), { epochs: Infinity });
    const first = await firstValueFrom(src.pipe(take(7), toArray()));
    expect(first.map((s) => s.index)).toEqual([0, 1, 2, 0, 1, 2, 0]);
    const it = src[Symbol.asyncIterator]();
    expect((await it.next()).value?.index).toBe(0);
    await it.return?.();
  });

  it('checks its arguments', () => {
    expect(() => fromArrays({ images: new Uint8Array(7), width: 3, height: 2, channels: 1 })).toThrow(ArgumentError);
    expect(() => fromArrays({ ...data(2), labels: [1] })).toThrow(/labels/);
    expect(() => fromArrays({ ...data(2), width: 0 })).toThrow(/width/);
    expect(() => fromArrays(data(2), { epochs: -1 })).toThrow(/epochs/);
  });
});
