import { describe, it, expect } from 'vitest';
import { applyAugment } from '../../src/augment/applyAugment.ts';
import { PixelImage, JpegSourceImage } from '../../src/augment/sourceImage.ts';
import { parseJpeg } from '../../src/internal/jpegDecoder.ts';
import { simclr, mocoV1, mocoV2, instDisc, cmc, cpc } from '../../src/augment/presets.ts';
import {
  colorJitter,
  normalize,
  randomApply,
  randomResizedCrop,
  resize,
  centerCrop,
  splitLab,
  patchGrid,
  twoViews,
  validateAugmentSpec,
  randomHorizontalFlip,
  gaussianBlur,
  randomSolarize,
  type AugmentSpec,
} from '../../src/augment/spec.ts';
import { ArgumentError } from '../../src/errors.ts';
import { encode, smoothImage, noiseImage } from './fixtures.ts';

const rgb = new PixelImage(smoothImage(1, 64, 48, 3), 64, 48, 3);
const grey = new PixelImage(smoothImage(2, 28, 28, 1), 28, 28, 1);

function same(a: { data: ArrayLike<number> }[], b: { data: ArrayLike<number> }[]): boolean {
  return a.length === b.length && a.every((v, k) => v.data.length === b[k].data.length && Array.prototype.every.call(v.data, (x: number, i: number) => Object.is(x, b[k].data[i])));
}

describe('applyAugment', () => {
  it('is deterministic in (seed, epoch, index) and varies with each', () => {
    const spec = simclr({ size: 32 });
    const base = applyAugment(rgb, spec, { seed: 1, epoch: 0, index: 5 });
    expect(same(base, applyAugment(rgb, spec, { seed: 1, epoch: 0, index: 5 }))).toBe(true);
    expect(same(base, applyAugment(rgb, spec, { seed: 2, epoch: 0, index: 5 }))).toBe(false);
    expect(same(base, applyAugment(rgb, spec, { seed: 1, epoch: 1, index: 5 }))).toBe(false);
    expect(same(base, applyAugment(rgb, spec, { seed: 1, epoch: 0, index: 6 }))).toBe(false);
    // the two views differ from each other
    expect(same([base[0]], [base[1]])).toBe(false);
  });

  it('does not modify the source image', () => {
    const px = rgb.data.slice();
    applyAugment(rgb, twoViews([colorJitter({ brightness: 0.9, hue: 0.4 }), randomHorizontalFlip(1)]), { seed: 3, epoch: 0, index: 0 });
    expect(rgb.data).toEqual(px);
  });

  it('presets give the documented outputs on RGB and on 1-channel images', () => {
    for (const img of [rgb, grey]) {
      const c = img.channels;
      const s = (spec: AugmentSpec) => applyAugment(img, spec, { seed: 0, epoch: 0, index: 1 }).map((v) => [v.data.constructor.name, ...v.shape]);
      expect(s(simclr({ size: 24 }))).toEqual([['Float32Array', 24, 24, c], ['Float32Array', 24, 24, c]]);
      expect(s(mocoV1({ size: 16 }))).toEqual([['Float32Array', 16, 16, c], ['Float32Array', 16, 16, c]]);
      expect(s(mocoV2({ size: 16 }))).toEqual([['Float32Array', 16, 16, c], ['Float32Array', 16, 16, c]]);
      expect(s(instDisc({ size: 20 }))).toEqual([['Float32Array', 20, 20, c]]);
      expect(s(cmc({ size: 20 }))).toEqual([['Float32Array', 20, 20, 1], ['Float32Array', 20, 20, 2]]);
      expect(s(cpc({ grid: 3, patchSize: 8 }))).toEqual([['Float32Array', 9, 8, 8, c]]);
    }
  });

  it('without normalize the output stays uint8; resize and centerCrop follow torchvision', () => {
    const out = applyAugment(rgb, { views: [[resize(24)], [resize([10, 20]), centerCrop(8)]] }, { seed: 0, epoch: 0, index: 0 });
    expect(out[0].data).toBeInstanceOf(Uint8Array);
    expect(out[0].shape).toEqual([24, 32, 3]); // smaller edge 48 -> 24, long edge int(24 * 64 / 48)
    expect(out[1].shape).toEqual([8, 8, 3]);
  });

  it('CMC L/ab outputs are normalised Lab of the crop', () => {
    const [L, ab] = applyAugment(rgb, { views: [[resize([48, 64]), splitLab({ normalize: false })]] }, { seed: 0, epoch: 0, index: 0 });
    for (const v of L.data) expect(v >= 0 && v <= 100.001).toBe(true);
    expect(ab.shape).toEqual([48, 64, 2]);
  });

  it('JPEG sources: the per-view path and the exact path agree closely', async () => {
    const buf = await encode(smoothImage(3, 96, 64, 3), 96, 64, 3, 'jpeg');
    const spec = twoViews([randomResizedCrop(32, { scale: [0.3, 1] }), randomHorizontalFlip()]);
    const fast = applyAugment(new JpegSourceImage(parseJpeg(buf), 3), spec, { seed: 9, epoch: 0, index: 2 });
    const exactImg = new JpegSourceImage(parseJpeg(buf), 3, false);
    exactImg.pixels();
    const exact = applyAugment(exactImg, spec, { seed: 9, epoch: 0, index: 2 });
    for (let k = 0; k < 2; k++) {
      let sum = 0;
      for (let i = 0; i < fast[k].data.length; i++) sum += Math.abs(fast[k].data[i] - exact[k].data[i]);
      expect(sum / fast[k].data.length).toBeLessThan(3);
    }
  });

  it('validates specs up front with ArgumentError naming the transform', () => {
    expect(() => validateAugmentSpec({ views: [] })).toThrow(ArgumentError);
    expect(() => validateAugmentSpec({ views: [[normalize(), colorJitter({ brightness: 0.2 })]] })).toThrow(/must come before normalize/);
    expect(() => validateAugmentSpec({ views: [[splitLab(), randomHorizontalFlip()]] })).toThrow(/must be last/);
    expect(() => validateAugmentSpec({ views: [[randomApply(normalize(), 0.5)]] })).toThrow(/cannot be inside randomApply/);
    expect(() => validateAugmentSpec({ views: [[{ kind: 'sharpen' } as never]] })).toThrow(/not a known transform/);
    expect(() => randomResizedCrop(0)).toThrow(ArgumentError);
    expect(() => randomResizedCrop(8, { scale: [0.5, 0.2] })).toThrow(/scale/);
    expect(() => colorJitter({ hue: 0.7 })).toThrow(/hue/);
    expect(() => gaussianBlur(4)).toThrow(/odd/);
    expect(() => randomSolarize(300)).toThrow(/threshold/);
    expect(() => patchGrid({ grid: 0, patchSize: 4 })).toThrow(/grid/);
  });

  it('errors for impossible geometry name the problem', () => {
    expect(() => applyAugment(grey, { views: [[patchGrid({ grid: 7, patchSize: 8 })]] }, { seed: 0, epoch: 0, index: 0 })).toThrow(/patchGrid needs an image of at least 32x32/);
    expect(() => applyAugment(new PixelImage(noiseImage(1, 4, 4, 3), 4, 4, 3), { views: [[centerCrop(8)]] }, { seed: 0, epoch: 0, index: 0 })).toThrow(/centerCrop/);
  });
});
