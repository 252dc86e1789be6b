/**
 * The decoded image every view of a sample starts from. Two implementations:
 *
 * - `PixelImage`: HWC uint8 pixels (in-memory datasets, PNG/WebP decoded by sharp).
 * - `JpegSourceImage`: a JPEG whose entropy-coded data has been decoded once (the serial,
 *   expensive part of JPEG decoding). A view's crop is reconstructed from the coefficients of
 *   only the blocks it covers, resampled per plane (Y, Cb, Cr) to the output size and converted
 *   to RGB at the output resolution. When a crop is at least 4/3x (2x, 4x, 8x) larger than the
 *   output in both directions, the inverse DCT runs at 3/4 (1/2, 1/4, 1/8) scale - libjpeg's
 *   scaled decoding, the "shrink-on-load" of libvips and PIL's `draft()` - and the antialiased
 *   resample does the rest.
 *
 * The JPEG path's output is not bit-identical to "decode to RGB, then crop and resize": the
 * chroma is resampled from its subsampled plane instead of libjpeg's fancy upsampling, colour
 * is converted after resampling, and the DCT-domain downscale is a sharper low-pass than the
 * bilinear filter. The difference is a few levels on average (the tests bound it). Pass
 * `exactJpeg: true` (augmentInPool / decodeImage) to decode fully with sharp and resize that.
 * When the native addon decodes JPEGs (libjpeg-turbo, see decodeImage.ts), JPEGs arrive here
 * as fully decoded PixelImages and this class is not used.
 */
import type { CropBox } from './geometry.ts';
import { resampleU8 } from './resample.ts';
import { type JpegImage, yccPixel, yccToRgbPlanar } from '../internal/jpegDecoder.ts';
import { luma } from './color.ts';

export interface SourceImage {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Full-resolution HWC uint8. May be shared: copy before modifying. */
  pixels(): Uint8Array;
  /** Writes `box` resized to outW x outH (antialiased bilinear) into `out` (HWC uint8). */
  resizedCrop(box: CropBox, outW: number, outH: number, out: Uint8Array): void;
}

export class PixelImage implements SourceImage {
  constructor(
    readonly data: Uint8Array,
    readonly width: number,
    readonly height: number,
    readonly channels: number,
  ) {}

  pixels(): Uint8Array {
    return this.data;
  }

  resizedCrop(box: CropBox, outW: number, outH: number, out: Uint8Array): void {
    resizeRegion(this.data, this.width, this.channels, box, outW, outH, out);
  }
}

/** Crop-then-resize of an HWC image region. */
export function resizeRegion(data: Uint8Array, width: number, channels: number, box: CropBox, outW: number, outH: number, out: Uint8Array): void {
  if (box.w === outW && box.h === outH) {
    // plain crop
    const row = outW * channels;
    for (let y = 0; y < outH; y++) {
      const s = ((box.y + y) * width + box.x) * channels;
      out.set(data.subarray(s, s + row), y * row);
    }
    return;
  }
  resampleU8(data, width * channels, channels, { x0: box.x, y0: box.y, x1: box.x + box.w, y1: box.y + box.h }, outW, outH, out);
}

const planeOut: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];

export class JpegSourceImage implements SourceImage {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  private full: Uint8Array | undefined;

  /**
   * @param channels 3 (RGB; grey JPEGs are replicated) or 1 (luminance; colour JPEGs use
   *                 PIL's "L" of the RGB result).
   * @param dctScaling allow reduced-size inverse DCT for crops >= 4/3 of the output.
   */
  constructor(
    private readonly jpeg: JpegImage,
    channels: 1 | 3,
    private readonly dctScaling = true,
  ) {
    this.width = jpeg.width;
    this.height = jpeg.height;
    this.channels = channels;
  }

  pixels(): Uint8Array {
    if (this.full) return this.full;
    const d = this.jpeg.toPixels();
    this.full = convertChannels(d.pixels, d.width * d.height, d.channels, this.channels);
    return this.full;
  }

  resizedCrop(box: CropBox, outW: number, outH: number, out: Uint8Array): void {
    if (this.full) {
      resizeRegion(this.full, this.width, this.channels, box, outW, outH, out);
      return;
    }
    // DCT scale n/8: the smallest of 1, 2, 4 (powers of two) or else 6 that keeps the crop at
    // least as large as the output, so the resample after it still only shrinks. (n = 3, 5, 7
    // would fit some crops more tightly, but their IDCTs cost more than they save.)
    let n = 8;
    if (this.dctScaling) {
      while (n > 1 && box.w * (n / 2) >= 8 * outW && box.h * (n / 2) >= 8 * outH) n /= 2;
      if (n === 8 && box.w * 6 >= 8 * outW && box.h * 6 >= 8 * outH) n = 6;
    }
    const jpeg = this.jpeg;
    const comps = jpeg.numComponents;
    const size = outW * outH;
    for (let ci = 0; ci < comps; ci++) {
      if (planeOut[ci].length < size) planeOut[ci] = new Uint8Array(size);
      const [sx, sy] = jpeg.sampling(ci);
      const plane = jpeg.plane(ci, n, box.x, box.y, box.x + box.w, box.y + box.h, true);
      const fx = (sx * n) / 8;
      const fy = (sy * n) / 8;
      const x0 = box.x * fx;
      const y0 = box.y * fy;
      const x1 = (box.x + box.w) * fx;
      const y1 = (box.y + box.h) * fy;
      const exact = fx === 1 && fy === 1;
      resampleU8(plane.data, plane.stride, 1, {
        x0, y0, x1, y1,
        lox: Math.floor(x0),
        loy: Math.floor(y0),
        hix: Math.min(plane.width, exact ? x1 : Math.ceil(x1)),
        hiy: Math.min(plane.height, exact ? y1 : Math.ceil(y1)),
      }, outW, outH, planeOut[ci]);
    }
    if (comps === 1) {
      const p = planeOut[0];
      if (this.channels === 1) out.set(p.subarray(0, size));
      else for (let i = 0, o = 0; i < size; i++, o += 3) { const v = p[i]; out[o] = v; out[o + 1] = v; out[o + 2] = v; }
      return;
    }
    const [p0, p1, p2] = planeOut;
    if (jpeg.colorModel === 'ycc') {
      if (this.channels === 3) {
        yccToRgbPlanar(p0, p1, p2, out, size);
      } else {
        const px = new Uint8Array(3);
        for (let i = 0; i < size; i++) {
          yccPixel(p0[i], p1[i], p2[i], px, 0);
          out[i] = luma(px[0], px[1], px[2]);
        }
      }
    } else if (this.channels === 3) {
      for (let i = 0, o = 0; i < size; i++, o += 3) { out[o] = p0[i]; out[o + 1] = p1[i]; out[o + 2] = p2[i]; }
    } else {
      for (let i = 0; i < size; i++) out[i] = luma(p0[i], p1[i], p2[i]);
    }
  }
}

/** 1 <-> 3 channel conversion (grey replicated; RGB -> PIL "L"). Returns the input when equal. */
export function convertChannels(data: Uint8Array, pixels: number, from: number, to: number): Uint8Array {
  if (from === to) return data;
  if (from === 1 && to === 3) {
    const out = new Uint8Array(pixels * 3);
    for (let i = 0, o = 0; i < pixels; i++, o += 3) { const v = data[i]; out[o] = v; out[o + 1] = v; out[o + 2] = v; }
    return out;
  }
  if (from >= 3 && to === 1) {
    const out = new Uint8Array(pixels);
    for (let i = 0, o = 0; i < pixels; i++, o += from) out[i] = luma(data[o], data[o + 1], data[o + 2]);
    return out;
  }
  throw new RangeError(`convertChannels: cannot convert ${from} to ${to} channels`);
}
