/**
 * The native augmentation kernels (native/src/augment.cc) against the TypeScript ones they
 * replace: every kernel must give bit-identical results, so that a view does not depend on
 * whether the addon is built. The TypeScript kernels are in turn checked against PIL /
 * torchvision semantics by color.test.ts, geometry.test.ts and applyAugment.test.ts.
 * JPEG decoding (libjpeg-turbo through dlopen) is checked against sharp's libjpeg-turbo.
 *
 * Skipped, with the reason printed, when the addon is not built (CONTRASTREAM_NATIVE=0, no
 * compiler at install).
 */
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import sharp from 'sharp';
import { Worker } from 'node:worker_threads';
import { loadNativeAugment } from '../../src/backend/native/loadNativeAugment.ts';
import { NATIVE_ADDON_PATH } from '../../src/backend/native/loadNative.ts';
import { setNativeAugment, augmentKernels, nativeJpegDecoder } from '../../src/augment/nativeKernels.ts';
import { resampleU8 } from '../../src/augment/resample.ts';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation, toGrayscale, solarize, meanLuma } from '../../src/augment/color.ts';
import { normalizeTables, normalizeToFloat } from '../../src/augment/filters.ts';
import { flipHorizontal } from '../../src/augment/geometry.ts';
import { applyAugment } from '../../src/augment/applyAugment.ts';
import { PixelImage } from '../../src/augment/sourceImage.ts';
import { decodeImage, decodeImageSync, DecodeError } from '../../src/augment/decodeImage.ts';
import { simclr, mocoV2, instDisc, cmc } from '../../src/augment/presets.ts';
import { twoViews, randomResizedCrop, gaussianBlur, randomSolarize, resize, centerCrop, randomHorizontalFlip, colorJitter } from '../../src/augment/spec.ts';
import { noiseImage, smoothImage, encode } from './fixtures.ts';

const native = loadNativeAugment();
const skip = native.kernels === null;
if (skip) console.warn(`nativeAugment.test: skipped (${native.reason})`);

/** Runs fn once with the TypeScript kernels and once with the native ones. */
function both<T>(fn: () => T): [ts: T, nat: T] {
  setNativeAugment(false);
  const a = fn();
  setNativeAugment(true);
  return [a, fn()];
}

afterEach(() => {
  setNativeAugment(true);
});

/** Byte-exact equality of typed arrays (fast, unlike a deep toEqual over elements). */
function expectSameBytes(a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): void {
  expect(b.constructor).toBe(a.constructor);
  expect(b.length).toBe(a.length);
  const same = Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  if (!same) {
    const i = a.findIndex((v, k) => !Object.is(v, b[k]));
    expect.fail(`arrays differ first at ${i}: TypeScript ${a[i]}, native ${b[i]}`);
  }
}

const imageArb = fc.record({
  w: fc.integer({ min: 1, max: 70 }),
  h: fc.integer({ min: 1, max: 70 }),
  c: fc.constantFrom(1, 3, 4),
  seed: fc.integer({ min: 0, max: 1e6 }),
  smooth: fc.boolean(),
});

describe.skipIf(skip)('native augmentation kernels = TypeScript kernels, bit for bit', () => {
  it('setNativeAugment switches the implementation the augment modules use', () => {
    expect(augmentKernels()).toBe(native.kernels);
    setNativeAugment(false);
    expect(augmentKernels()).toBeNull();
    expect(nativeJpegDecoder()).toBeNull();
    setNativeAugment(true);
    expect(nativeJpegDecoder()).toBe(native.jpeg ? native.kernels : null);
  });

  it('resample: any (fractional) box, channel count and output size', () => {
    fc.assert(
      fc.property(
        imageArb,
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.double({ min: 0, max: 0.9, noNaN: true }),
        fc.double({ min: 0.02, max: 1, noNaN: true }),
        fc.double({ min: 0.02, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 90 }),
        fc.integer({ min: 1, max: 90 }),
        ({ w, h, c, seed, smooth }, fx, fy, fw, fh, ow, oh) => {
          const src = smooth ? smoothImage(seed, w, h, c) : noiseImage(seed, w, h, c);
          const x0 = fx * w;
          const y0 = fy * h;
          const box = { x0, y0, x1: x0 + Math.max(0.05, (w - x0) * fw), y1: y0 + Math.max(0.05, (h - y0) * fh) };
          const [a, b] = both(() => {
            const out = new Uint8Array(ow * oh * c);
            resampleU8(src, w * c, c, box, ow, oh, out);
            return out;
          });
          expectSameBytes(a, b);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('resample: photo-sized crops downscaled to 96 and 224 (the vector paths)', () => {
    const W = 320;
    const H = 240;
    const src = smoothImage(7, W, H, 3);
    const noise = noiseImage(8, W, H, 3);
    for (const [x0, y0, x1, y1, o] of [[0, 0, 320, 240, 96], [13, 7, 300, 231, 96], [40.5, 10.25, 140.75, 110, 96], [0, 0, 320, 240, 224], [100, 50, 150, 100, 224], [3, 3, 319, 239, 17]] as const) {
      for (const img of [src, noise]) {
        const [a, b] = both(() => {
          const out = new Uint8Array(o * o * 3);
          resampleU8(img, W * 3, 3, { x0, y0, x1, y1, hix: Math.min(W, Math.ceil(x1)), hiy: Math.min(H, Math.ceil(y1)) }, o, o, out);
          return out;
        });
        expectSameBytes(a, b);
      }
    }
  });

  it('hue and saturation: every 7th 24-bit colour (2.4M colours, all values of every channel)', () => {
    // (Checked once on all 2^24 colours for five hue shifts and five saturation factors; a
    // 1-in-7 sample keeps this test fast.)
    const n = Math.ceil(256 ** 3 / 7);
    const all = new Uint8Array(n * 3);
    for (let k = 0, i = 0; k < n; k++, i += 7) {
      all[3 * k] = i >> 16;
      all[3 * k + 1] = (i >> 8) & 255;
      all[3 * k + 2] = i & 255;
    }
    for (const hue of [-0.37, 0.1]) {
      const [a, b] = both(() => {
        const d = all.slice();
        adjustHue(d, n, 3, hue);
        return d;
      });
      expectSameBytes(a, b);
    }
    for (const f of [0.6, 1.4]) {
      const [a, b] = both(() => {
        const d = all.slice();
        adjustSaturation(d, n, 3, f);
        return d;
      });
      expectSameBytes(a, b);
    }
  });

  it('colour ops, normalize and flip on random images and factors (3 and 4 channels)', () => {
    fc.assert(
      fc.property(
        imageArb,
        fc.double({ min: 0, max: 2.5, noNaN: true }),
        fc.double({ min: -0.5, max: 0.5, noNaN: true }),
        fc.integer({ min: 0, max: 256 }),
        ({ w, h, c, seed, smooth }, f, hue, thr) => {
          const src = smooth ? smoothImage(seed, w, h, c) : noiseImage(seed, w, h, c);
          const n = w * h;
          const tables = normalizeTables([0.485, 0.456, 0.406], [0.229, 0.224, 0.225], c);
          const [a, b] = both(() => {
            const outs: (Uint8Array | Float32Array)[] = [];
            const run = (op: (d: Uint8Array) => void) => {
              const d = src.slice();
              op(d);
              outs.push(d);
            };
            run((d) => adjustBrightness(d, n * c, f));
            run((d) => adjustContrast(d, n, c, f));
            run((d) => adjustSaturation(d, n, c, f));
            run((d) => adjustHue(d, n, c, hue));
            run((d) => toGrayscale(d, n, c));
            run((d) => solarize(d, n * c, thr));
            run((d) => flipHorizontal(d, w, h, c));
            outs.push(new Float32Array([meanLuma(src, n, c)]));
            const fl = new Float32Array(n * c);
            normalizeToFloat(src, n, c, tables, fl);
            outs.push(fl);
            return outs;
          });
          a.forEach((x, k) => expectSameBytes(x, b[k]));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('whole views: presets and every transform give the same outputs', () => {
    const rgb = new PixelImage(smoothImage(3, 160, 120, 3), 160, 120, 3);
    const grey = new PixelImage(smoothImage(4, 60, 50, 1), 60, 50, 1);
    const specs = [
      simclr({ size: 96 }),
      mocoV2({ size: 64 }),
      instDisc({ size: 48 }),
      cmc({ size: 64 }),
      twoViews([resize(100), centerCrop(90), randomHorizontalFlip(1), colorJitter({ brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.5 }), gaussianBlur(9), randomSolarize(128, 1)]),
      twoViews([randomResizedCrop([40, 56], { scale: [0.05, 1] }), colorJitter({ contrast: 0.9 })]),
    ];
    for (const spec of specs) {
      for (let index = 0; index < 4; index++) {
        for (const img of [rgb, grey]) {
          const [a, b] = both(() => applyAugment(img, spec, { seed: 5, epoch: 1, index }));
          expect(b.map((v) => v.shape)).toEqual(a.map((v) => v.shape));
          b.forEach((v, k) => expectSameBytes(a[k].data, v.data));
        }
      }
    }
  });
});

describe.skipIf(skip || !native.jpeg)('native JPEG decoding (libjpeg-turbo)', () => {
  it('gives the pixels libjpeg-turbo gives sharp (PIL decodes with the same library)', async () => {
    for (const [w, h, seed] of [[320, 240, 1], [97, 61, 2], [8, 8, 3]] as const) {
      const jpg = await encode(smoothImage(seed, w, h, 3), w, h, 3, 'jpeg');
      const img = decodeImageSync(jpg)!;
      expect(img).toBeInstanceOf(PixelImage);
      expect([img.width, img.height, img.channels]).toEqual([w, h, 3]);
      const ref = await sharp(jpg).raw().toBuffer();
      const px = img.pixels();
      let worst = 0;
      let sum = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(px[i] - ref[i]);
        worst = Math.max(worst, d);
        sum += d;
      }
      // same IDCT and upsampling; libjpeg-turbo versions may differ by a level in SIMD paths
      expect(worst).toBeLessThanOrEqual(2);
      expect(sum / ref.length).toBeLessThan(0.05);
    }
  });

  it('greyscale JPEGs, 1-channel output, and ownership (decodeImage copies, decodeImageSync borrows)', async () => {
    const g = smoothImage(5, 40, 30, 1);
    const jpg = await encode(g, 40, 30, 1, 'jpeg');
    const rgb = decodeImageSync(jpg, { channels: 3 })!;
    const p = rgb.pixels();
    for (let i = 0; i < 40 * 30; i++) expect(p[3 * i]).toBe(p[3 * i + 2]);
    const one = await decodeImage(jpg, { channels: 1 });
    expect(one.channels).toBe(1);
    const kept = one.pixels().slice();
    // later decodes must not overwrite decodeImage's result
    decodeImageSync(await encode(noiseImage(6, 40, 30, 3), 40, 30, 3, 'jpeg'), { channels: 1 });
    expect(one.pixels()).toEqual(kept);
  });

  it('corrupt and oversized JPEGs fail with a DecodeError and its reason', async () => {
    const jpg = await encode(smoothImage(6, 64, 48, 3), 64, 48, 3, 'jpeg');
    const cut = jpg.slice(0, 40); // inside the header tables
    expect(() => decodeImageSync(cut)).toThrow(DecodeError);
    try {
      decodeImageSync(cut);
    } catch (err) {
      expect((err as DecodeError).reason).toBe('decode');
      expect((err as Error).message).toMatch(/corrupt JPEG/);
    }
    try {
      decodeImageSync(jpg, { maxInputPixels: 1000 });
      expect.unreachable();
    } catch (err) {
      expect((err as DecodeError).reason).toBe('too-large');
      expect((err as Error).message).toMatch(/64x48 = 3072 pixels, more than maxInputPixels 1000/);
    }
  });

  it('libjpeg warnings (header disagrees with data) are errors: premature end, extraneous bytes', async () => {
    const jpg = await encode(smoothImage(7, 64, 48, 3), 64, 48, 3, 'jpeg');
    const sof = [...jpg.keys()].find((i) => jpg[i] === 0xff && jpg[i + 1] === 0xc0)!;
    const withSize = (w: number, h: number) => {
      const b = Buffer.from(jpg);
      b.writeUInt16BE(h, sof + 5);
      b.writeUInt16BE(w, sof + 7);
      return b;
    };
    expect(nativeJpegDecoder()).toBe(native.kernels); // the path under test is the native decoder (the describe runs only with libjpeg)
    const cases: [Buffer, RegExp][] = [
      [withSize(640, 480), /premature end of data/i],
      [withSize(16, 12), /extraneous bytes/i],
      // scan data cut in the middle, EOI kept: libjpeg pads the rest (a warning)
      [Buffer.concat([jpg.subarray(0, Math.floor(jpg.length * 0.6)), Buffer.from([0xff, 0xd9])]), /Premature end|corrupt/i],
    ];
    for (const [bytes, why] of cases) {
      const r = nativeJpegDecoder()!.jpegDecode(bytes, 1e9);
      expect(r.error).toMatch(why);
      try {
        decodeImageSync(bytes);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).reason).toBe('decode');
        expect((err as Error).message).toMatch(/corrupt JPEG/);
      }
    }
    expect(decodeImageSync(jpg)).toMatchObject({ width: 64, height: 48 }); // the intact file decodes
  });

  it('CMYK JPEGs are left to sharp', async () => {
    const cmyk = await sharp(smoothImage(7, 16, 16, 3), { raw: { width: 16, height: 16, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer();
    expect(decodeImageSync(cmyk)).toBeUndefined();
    expect((await decodeImage(cmyk)).channels).toBe(3);
  });
});

describe.skipIf(skip)('native kernels in worker threads', () => {
  it('the addon loads and runs in several worker threads at once', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const m = require(workerData.path);
      const d = new Uint8Array(3 * 1000);
      for (let i = 0; i < d.length; i++) d[i] = (i * 7919) & 255;
      m.augHue(d, 1000, 3, 40);
      const j = m.jpegInfo();
      let s = 0; for (const v of d) s = (s * 31 + v) >>> 0;
      parentPort.postMessage({ s, jpeg: j.available });`;
    const run = () =>
      new Promise<{ s: number }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { path: NATIVE_ADDON_PATH } });
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    const results = await Promise.all([run(), run(), run()]);
    const d = new Uint8Array(3 * 1000);
    for (let i = 0; i < d.length; i++) d[i] = (i * 7919) & 255;
    setNativeAugment(false);
    adjustHue(d, 1000, 3, 40 / 255 + 1e-9);
    let s = 0;
    for (const v of d) s = (s * 31 + v) >>> 0;
    for (const r of results) expect(r.s).toBe(s);
  });
});
