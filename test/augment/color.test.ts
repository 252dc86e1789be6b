import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { adjustBrightness, adjustContrast, adjustSaturation, adjustHue, toGrayscale, solarize, luma, meanLuma } from '../../src/augment/color.ts';
import { gaussianBlurU8, gaussianKernel1d, normalizeTables, normalizeToFloat } from '../../src/augment/filters.ts';
import { noiseImage } from './fixtures.ts';

const img = fc.record({
  w: fc.integer({ min: 1, max: 24 }),
  h: fc.integer({ min: 1, max: 24 }),
  seed: fc.integer(),
});

describe('colour jitter', () => {
  it('factor 1 (hue 0) is the identity, on RGB and grey images', () => {
    fc.assert(
      fc.property(img, fc.constantFrom(1, 3), ({ w, h, seed }, c) => {
        const px = noiseImage(seed, w, h, c);
        const d = px.slice();
        adjustBrightness(d, w * h * c, 1);
        adjustContrast(d, w * h, c, 1);
        adjustSaturation(d, w * h, c, 1);
        adjustHue(d, w * h, c, 0);
        expect(d).toEqual(px);
      }),
      { numRuns: 50 },
    );
  });

  it('brightness/contrast/saturation follow PIL blend: trunc(in1 + f (in2 - in1)) clipped', () => {
    // slow reference written from PIL's ImageEnhance: blend(degenerate, img, f) in float32
    const blend = (a: number, b: number, f: number) => {
      const t = Math.fround(a + Math.fround(Math.fround(f) * (b - a)));
      return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
    };
    fc.assert(
      fc.property(img, fc.double({ min: 0, max: 3, noNaN: true }), ({ w, h, seed }, f) => {
        const px = noiseImage(seed, w, h, 3);
        const n = w * h;
        const b = px.slice();
        adjustBrightness(b, n * 3, f);
        const c = px.slice();
        adjustContrast(c, n, 3, f);
        const s = px.slice();
        adjustSaturation(s, n, 3, f);
        let sum = 0;
        for (let i = 0; i < n; i++) sum += (px[3 * i] * 19595 + px[3 * i + 1] * 38470 + px[3 * i + 2] * 7471 + 0x8000) >> 16;
        const mean = Math.trunc(sum / n + 0.5);
        const wb: number[] = [];
        const wc: number[] = [];
        const ws: number[] = [];
        for (let i = 0; i < n; i++) {
          const l = luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
          for (let k = 0; k < 3; k++) {
            const v = px[3 * i + k];
            wb.push(blend(0, v, f));
            wc.push(blend(mean, v, f));
            ws.push(blend(l, v, f));
          }
        }
        expect(Array.from(b)).toEqual(wb);
        expect(Array.from(c)).toEqual(wc);
        expect(Array.from(s)).toEqual(ws);
      }),
      { numRuns: 60 },
    );
  });

  it('saturation 0 and grayscale give grey pixels; hue keeps grey pixels and value (max channel)', () => {
    fc.assert(
      fc.property(img, fc.double({ min: -0.5, max: 0.5, noNaN: true }), ({ w, h, seed }, hue) => {
        const px = noiseImage(seed, w, h, 3);
        const n = w * h;
        const s = px.slice();
        adjustSaturation(s, n, 3, 0);
        const g = px.slice();
        toGrayscale(g, n, 3);
        const hh = px.slice();
        adjustHue(hh, n, 3, hue);
        const problems: string[] = [];
        for (let i = 0; i < n; i++) {
          if (s[3 * i] !== s[3 * i + 1] || s[3 * i + 1] !== s[3 * i + 2]) problems.push(`saturation 0 not grey at ${i}`);
          if (g[3 * i] !== luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]) || g[3 * i + 2] !== g[3 * i]) problems.push(`grayscale wrong at ${i}`);
          const max = Math.max(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
          if (Math.max(hh[3 * i], hh[3 * i + 1], hh[3 * i + 2]) !== max) problems.push(`hue changed the value at ${i}`);
        }
        expect(problems).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('mean luminance is PIL int(mean + 0.5)', () => {
    const px = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    expect(meanLuma(px, 3, 3)).toBe(Math.trunc((76 + 150 + 29) / 3 + 0.5));
  });

  it('solarize inverts values at or above the threshold', () => {
    const px = Uint8Array.from({ length: 256 }, (_, i) => i);
    solarize(px, 256, 128);
    for (let v = 0; v < 256; v++) expect(px[v]).toBe(v < 128 ? v : 255 - v);
  });

  const py = spawnSync('/usr/bin/python3', ['-c', 'import PIL, numpy'], { encoding: 'utf8' });
  it.skipIf(py.status !== 0)('is bit-identical to torchvision-on-PIL (PIL ImageEnhance, torchvision adjust_hue)', () => {
    const w = 23;
    const h = 17;
    const px = noiseImage(77, w, h, 3);
    const factors = [0.3, 0.77, 1.45];
    const hues = [-0.5, -0.21, 0.003, 0.09, 0.42];
    const script = `
import sys, numpy as np
from PIL import Image, ImageEnhance
raw = sys.stdin.buffer.read()
a = np.frombuffer(raw, np.uint8).reshape(${h}, ${w}, 3)
im = Image.fromarray(a)
out = []
for f in ${JSON.stringify(factors)}:
    out += [ImageEnhance.Brightness(im).enhance(f), ImageEnhance.Contrast(im).enhance(f), ImageEnhance.Color(im).enhance(f)]
for hf in ${JSON.stringify(hues)}:
    # torchvision.transforms.functional_pil.adjust_hue
    hh, s, v = im.convert("HSV").split()
    np_h = np.array(hh, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.array(hf * 255).astype(np.int64).astype(np.uint8)
    out.append(Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB"))
out.append(Image.fromarray(np.dstack([np.array(im.convert("L"))] * 3)))
sys.stdout.buffer.write(b"".join(np.array(o).tobytes() for o in out))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: Buffer.from(px), maxBuffer: 1 << 24 });
    expect(r.status, r.stderr?.toString()).toBe(0);
    const ref = new Uint8Array(r.stdout);
    const size = w * h * 3;
    let k = 0;
    const next = () => ref.subarray(size * k, size * ++k);
    for (const f of factors) {
      for (const op of [
        (d: Uint8Array) => adjustBrightness(d, size, f),
        (d: Uint8Array) => adjustContrast(d, w * h, 3, f),
        (d: Uint8Array) => adjustSaturation(d, w * h, 3, f),
      ]) {
        const d = px.slice();
        op(d);
        expect(Buffer.from(d).equals(Buffer.from(next())), `factor ${f}`).toBe(true);
      }
    }
    for (const hf of hues) {
      const d = px.slice();
      adjustHue(d, w * h, 3, hf);
      const want = next();
      // a hue shift that truncates to 0 is skipped here (PIL would still round-trip through HSV)
      if (Math.trunc(hf * 255) === 0) continue;
      expect(Buffer.from(d).equals(Buffer.from(want)), `hue ${hf}`).toBe(true);
    }
    const g = px.slice();
    toGrayscale(g, w * h, 3);
    expect(Buffer.from(g).equals(Buffer.from(next()))).toBe(true);
  });
});

describe('gaussian blur and normalize', () => {
  it('kernel is torchvision _get_gaussian_kernel1d: symmetric, sums to 1, peak in the middle', () => {
    const k = gaussianKernel1d(7, 1.3);
    let s = 0;
    for (let i = 0; i < 7; i++) {
      s += k[i];
      expect(k[i]).toBeCloseTo(k[6 - i], 7);
    }
    expect(s).toBeCloseTo(1, 6);
    expect(k[3]).toBeCloseTo(1 / [-3, -2, -1, 0, 1, 2, 3].reduce((a, x) => a + Math.exp(-0.5 * (x / 1.3) ** 2), 0), 6);
  });

  it('blur matches a 2-D reflect-padded convolution from the definition (within 1)', () => {
    fc.assert(
      fc.property(img, fc.constantFrom(1, 3), fc.constantFrom(1, 3, 5), fc.double({ min: 0.1, max: 3, noNaN: true }), ({ w, h, seed }, c, k, sigma) => {
        fc.pre(k <= 2 * Math.min(w, h) - 1);
        const px = noiseImage(seed, w, h, c);
        const d = px.slice();
        gaussianBlurU8(d, w, h, c, k, k, sigma, sigma);
        const kern = gaussianKernel1d(k, sigma);
        const refl = (i: number, n: number) => {
          if (n === 1) return 0;
          const p = 2 * (n - 1);
          i = ((i % p) + p) % p;
          return i < n ? i : p - i;
        };
        const half = k >> 1;
        let worst = 0;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) {
          let a = 0;
          for (let j = 0; j < k; j++) for (let i = 0; i < k; i++) a += kern[j] * kern[i] * px[(refl(y + j - half, h) * w + refl(x + i - half, w)) * c + ch];
          worst = Math.max(worst, Math.abs(d[(y * w + x) * c + ch] - Math.round(a)));
        }
        expect(worst).toBeLessThanOrEqual(1);
      }),
      { numRuns: 40 },
    );
  });

  it('normalize is (v / 255 - mean) / std per channel in float32; a 3-entry mean on 1 channel averages', () => {
    const px = Uint8Array.from([0, 128, 255, 7, 200, 31]);
    const out = new Float32Array(6);
    normalizeToFloat(px, 2, 3, normalizeTables([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 3), out);
    const m = [0.485, 0.456, 0.406];
    const s = [0.229, 0.224, 0.225];
    px.forEach((v, i) => expect(out[i]).toBeCloseTo((v / 255 - m[i % 3]) / s[i % 3], 5));
    const g = new Float32Array(1);
    normalizeToFloat(Uint8Array.from([51]), 1, 1, normalizeTables(m, s, 1), g);
    expect(g[0]).toBeCloseTo((0.2 - (0.485 + 0.456 + 0.406) / 3) / ((0.229 + 0.224 + 0.225) / 3), 5);
  });
});
