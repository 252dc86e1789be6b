import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../../src/internal/prng.ts';
import { randomResizedCropBox, roundHalfEven, flipHorizontal, centerCropBox, extractPatchGrid } from '../../src/augment/geometry.ts';
import { resampleU8 } from '../../src/augment/resample.ts';
import { noiseImage } from './fixtures.ts';

/** torchvision RandomResizedCrop.get_params transcribed literally, drawing from the same stream. */
function getParamsReference(W: number, H: number, scale: [number, number], ratio: [number, number], rng: Rng) {
  const area = H * W;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let k = 0; k < 10; k++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspectRatio = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    const h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (0 < w && w <= W && 0 < h && h <= H) {
      const i = rng.int(0, H - h + 1);
      const j = rng.int(0, W - w + 1);
      return { i, j, h, w };
    }
  }
  const inRatio = W / H;
  let w: number;
  let h: number;
  if (inRatio < Math.min(...ratio)) {
    w = W;
    h = roundHalfEven(w / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    h = H;
    w = roundHalfEven(h * Math.max(...ratio));
  } else {
    w = W;
    h = H;
  }
  // (torchvision can return an empty crop here for 1-2 px images; contrastream keeps >= 1 px)
  w = Math.max(1, w);
  h = Math.max(1, h);
  return { i: Math.floor((H - h) / 2), j: Math.floor((W - w) / 2), h, w };
}

const dims = fc.record({
  W: fc.integer({ min: 1, max: 400 }),
  H: fc.integer({ min: 1, max: 400 }),
  s0: fc.double({ min: 0.01, max: 1, noNaN: true }),
  s1: fc.double({ min: 0.01, max: 1, noNaN: true }),
  r0: fc.double({ min: 0.2, max: 3, noNaN: true }),
  r1: fc.double({ min: 0.2, max: 3, noNaN: true }),
  seed: fc.integer({ min: 0, max: 2 ** 31 }),
});

describe('randomResizedCropBox', () => {
  it('lies inside the image, and out of the fallback has area and ratio in range (up to rounding)', () => {
    fc.assert(
      fc.property(dims, ({ W, H, s0, s1, r0, r1, seed }) => {
        const scale: [number, number] = [Math.min(s0, s1), Math.max(s0, s1)];
        const ratio: [number, number] = [Math.min(r0, r1), Math.max(r0, r1)];
        const b = randomResizedCropBox(W, H, scale, ratio, new Rng(seed));
        expect(b.w).toBeGreaterThan(0);
        expect(b.h).toBeGreaterThan(0);
        expect(b.x).toBeGreaterThanOrEqual(0);
        expect(b.y).toBeGreaterThanOrEqual(0);
        expect(b.x + b.w).toBeLessThanOrEqual(W);
        expect(b.y + b.h).toBeLessThanOrEqual(H);
        if (!b.fallback) {
          // w = round(w_t), h = round(h_t) with w_t h_t = area * s, w_t / h_t = r: the exact
          // (w_t, h_t) lie within 0.5 of (w, h), so [scale] and [ratio] must meet what they allow
          const wl = Math.max(b.w - 0.5, 0);
          const hl = Math.max(b.h - 0.5, 1e-12);
          const areaLo = (wl * Math.max(b.h - 0.5, 0)) / (W * H);
          const areaHi = ((b.w + 0.5) * (b.h + 0.5)) / (W * H);
          expect(areaHi).toBeGreaterThanOrEqual(scale[0] * (1 - 1e-9));
          expect(areaLo).toBeLessThanOrEqual(scale[1] * (1 + 1e-9));
          expect((b.w + 0.5) / hl).toBeGreaterThanOrEqual(ratio[0] * (1 - 1e-9));
          expect(wl / (b.h + 0.5)).toBeLessThanOrEqual(ratio[1] * (1 + 1e-9));
        } else {
          // torchvision's central crop: centred, clamped to the ratio range where possible
          expect(b.x).toBe(Math.floor((W - b.w) / 2));
          expect(b.y).toBe(Math.floor((H - b.h) / 2));
          expect(b.w === W || b.h === H).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('matches torchvision get_params transcribed from its source, draw for draw', () => {
    fc.assert(
      fc.property(dims, ({ W, H, s0, s1, r0, r1, seed }) => {
        const scale: [number, number] = [Math.min(s0, s1), Math.max(s0, s1)];
        const ratio: [number, number] = [Math.min(r0, r1), Math.max(r0, r1)];
        const b = randomResizedCropBox(W, H, scale, ratio, new Rng(seed, 1));
        const ref = getParamsReference(W, H, scale, ratio, new Rng(seed, 1));
        expect({ i: b.y, j: b.x, h: b.h, w: b.w }).toEqual(ref);
      }),
      { numRuns: 300 },
    );
  });

  it('takes the fallback when no attempt can fit (ratio far outside the image)', () => {
    const b = randomResizedCropBox(100, 10, [0.9, 1], [0.1, 0.1], new Rng(1));
    expect(b.fallback).toBe(true);
    expect(b).toMatchObject({ w: 1, h: 10, x: 49, y: 0 });
  });

  it('python round is half-to-even', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3]);
  });
});

describe('flipHorizontal', () => {
  it('flip . flip = identity, and flip mirrors columns', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (w, h, c, seed) => {
        const img = noiseImage(seed, w, h, c);
        const once = img.slice();
        flipHorizontal(once, w, h, c);
        const mirrored = new Uint8Array(img.length);
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) mirrored[(y * w + x) * c + k] = img[(y * w + (w - 1 - x)) * c + k];
        expect(once).toEqual(mirrored);
        const twice = once.slice();
        flipHorizontal(twice, w, h, c);
        expect(twice).toEqual(img);
      }),
      { numRuns: 100 },
    );
  });
});

/** PIL's bilinear (antialiased) resample written from its definition, in doubles. */
function resampleSlow(src: Uint8Array, W: number, C: number, box: { x0: number; y0: number; x1: number; y1: number }, outW: number, outH: number) {
  const weights = (in0: number, in1: number, outSize: number) => {
    const scale = (in1 - in0) / outSize;
    const fs = Math.max(scale, 1);
    return Array.from({ length: outSize }, (_, o) => {
      const center = in0 + (o + 0.5) * scale;
      const taps: [number, number][] = [];
      for (let i = Math.floor(in0); i < Math.ceil(in1); i++) {
        const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / fs));
        if (w > 0) taps.push([i, w]);
      }
      const tot = taps.reduce((a, t) => a + t[1], 0);
      return taps.map(([i, w]) => [i, w / tot] as [number, number]);
    });
  };
  const wx = weights(box.x0, box.x1, outW);
  const wy = weights(box.y0, box.y1, outH);
  const out = new Float64Array(outW * outH * C);
  for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) for (let c = 0; c < C; c++) {
    let a = 0;
    for (const [sy, wyv] of wy[y]) for (const [sx, wxv] of wx[x]) a += wyv * wxv * src[(sy * W + sx) * C + c];
    out[(y * outW + x) * C + c] = a;
  }
  return out;
}

describe('resampleU8', () => {
  it('matches the antialiased bilinear definition within one level', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 40 }),
        fc.integer({ min: 2, max: 40 }),
        fc.constantFrom(1, 3, 4),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer(),
        (W, H, C, outW, outH, seed) => {
          const src = noiseImage(seed, W, H, C);
          const rng = new Rng(seed, 9);
          const x0 = rng.int(0, W - 1);
          const y0 = rng.int(0, H - 1);
          const box = { x0, y0, x1: rng.int(x0 + 1, W + 1), y1: rng.int(y0 + 1, H + 1) };
          const out = new Uint8Array(outW * outH * C);
          resampleU8(src, W * C, C, box, outW, outH, out);
          const ref = resampleSlow(src, W, C, box, outW, outH);
          let worst = 0;
          for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
          expect(worst).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('keeps flat images flat and copies at scale 1', () => {
    const flat = new Uint8Array(17 * 9 * 3).fill(201);
    const out = new Uint8Array(5 * 4 * 3);
    resampleU8(flat, 17 * 3, 3, { x0: 0, y0: 0, x1: 17, y1: 9 }, 5, 4, out);
    expect(out.every((v) => v === 201)).toBe(true);
    const img = noiseImage(3, 12, 7, 1);
    const same = new Uint8Array(12 * 7);
    resampleU8(img, 12, 1, { x0: 0, y0: 0, x1: 12, y1: 7 }, 12, 7, same);
    expect(same).toEqual(img);
  });
});

describe('centerCropBox and extractPatchGrid', () => {
  it('centre crop is torchvision round((H - h) / 2)', () => {
    expect(centerCropBox(10, 7, 4, 4)).toMatchObject({ x: 3, y: 2, w: 4, h: 4 }); // round(1.5) = 2 in JS, torchvision int(round(1.5)) = 2
  });

  it('patch grid cuts overlapping patches in raster order', () => {
    const W = 10;
    const H = 10;
    const img = noiseImage(4, W, H, 2);
    const grid = 3;
    const patch = 4;
    const stride = 3;
    const out = new Uint8Array(grid * grid * patch * patch * 2);
    extractPatchGrid(img, W, H, 2, grid, patch, stride, out);
    const off = Math.floor((W - ((grid - 1) * stride + patch)) / 2);
    for (let g = 0; g < grid * grid; g++) {
      const gy = Math.floor(g / grid);
      const gx = g % grid;
      let wrong = 0;
      for (let y = 0; y < patch; y++) for (let x = 0; x < patch; x++) for (let c = 0; c < 2; c++) {
        const src = ((off + gy * stride + y) * W + off + gx * stride + x) * 2 + c;
        if (out[((g * patch + y) * patch + x) * 2 + c] !== img[src]) wrong++;
      }
      expect(wrong).toBe(0);
    }
  });
});
