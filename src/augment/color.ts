/**
 * Colour operations on HWC uint8 images, in place, with the semantics torchvision has on
 * PIL images (which is what `torchvision.transforms` users get from an ImageFolder):
 *
 *   brightness(f):  v' = clip(trunc(f * v))                          ImageEnhance.Brightness
 *   contrast(f):    v' = clip(trunc(m + f * (v - m))),               ImageEnhance.Contrast
 *                   m  = int(mean(L) + 0.5)
 *   saturation(f):  v' = clip(trunc(L + f * (v - L)))  per pixel,    ImageEnhance.Color
 *   hue(h):         RGB -> HSV (uint8, PIL), H += uint8(h * 255) mod 256, HSV -> RGB
 *   grayscale:      L = (19595 R + 38470 G + 7471 B + 2^15) >> 16    (ITU-R 601-2, PIL "L")
 *   solarize(t):    v' = v < t ? v : 255 - v                         ImageOps.solarize
 *
 * PIL's blend runs in float32 and truncates; that is reproduced with Math.fround. Identity
 * factors (f = 1, h = 0) leave the image unchanged exactly.
 *
 * Single-channel (grayscale) images: brightness and contrast apply; saturation, hue and
 * grayscale are no-ops (as torchvision does for "L" images and 1-channel tensors).
 */

import { augmentKernels } from './nativeKernels.ts';

/** PIL's luminance of one RGB pixel. */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/** PIL ImagingBlend for one value: in1 + alpha * (in2 - in1) in float32, truncated, clipped. */
function blend1(in1: number, in2: number, alpha: number): number {
  const t = Math.fround(in1 + Math.fround(alpha * (in2 - in1)));
  return t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
}

const lut = new Uint8Array(256);

function clip8round(x: number): number {
  const r = Math.round(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

function applyLut(data: Uint8Array, n: number): void {
  const native = augmentKernels();
  if (native && n >= 1024) {
    native.augApplyLut(data, n, lut);
    return;
  }
  for (let i = 0; i < n; i++) data[i] = lut[data[i]];
}

/** ImageEnhance.Brightness(img).enhance(f): blend with black. */
export function adjustBrightness(data: Uint8Array, length: number, factor: number): void {
  if (factor === 1) return;
  const a = Math.fround(factor);
  for (let v = 0; v < 256; v++) lut[v] = blend1(0, v, a);
  applyLut(data, length);
}

/** Mean luminance as PIL's ImageStat computes it on convert("L"), rounded: int(mean + 0.5). */
export function meanLuma(data: Uint8Array, pixels: number, channels: number): number {
  const native = augmentKernels();
  if (native && pixels > 0) return native.augMeanLuma(data, pixels, channels);
  let sum = 0;
  if (channels === 1) {
    for (let i = 0; i < pixels; i++) sum += data[i];
  } else {
    for (let i = 0, o = 0; i < pixels; i++, o += channels) sum += luma(data[o], data[o + 1], data[o + 2]);
  }
  return Math.trunc(sum / pixels + 0.5);
}

/** ImageEnhance.Contrast(img).enhance(f): blend with the mean grey level. */
export function adjustContrast(data: Uint8Array, pixels: number, channels: number, factor: number): void {
  if (factor === 1) return;
  const m = meanLuma(data, pixels, channels);
  const a = Math.fround(factor);
  for (let v = 0; v < 256; v++) lut[v] = blend1(m, v, a);
  applyLut(data, pixels * channels);
}

/** ImageEnhance.Color(img).enhance(f): blend each pixel with its own luminance. */
const satTable = new Float32Array(511);

export function adjustSaturation(data: Uint8Array, pixels: number, channels: number, factor: number): void {
  if (factor === 1 || channels < 3) return;
  // blend1(l, v, a) = clip(trunc(fround(l + fround(a * (v - l))))): tabulate fround(a * d)
  const native = augmentKernels();
  if (native) {
    native.augSaturation(data, pixels, channels, factor);
    return;
  }
  const a = Math.fround(factor);
  const T = satTable;
  for (let d = -255; d <= 255; d++) T[d + 255] = Math.fround(a * d);
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const r = data[o];
    const g = data[o + 1];
    const b = data[o + 2];
    const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    let t = Math.fround(l + T[r - l + 255]);
    data[o] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
    t = Math.fround(l + T[g - l + 255]);
    data[o + 1] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
    t = Math.fround(l + T[b - l + 255]);
    data[o + 2] = t <= 0 ? 0 : t >= 255 ? 255 : t | 0;
  }
}

// ---- hue: PIL's uint8 HSV conversion (Convert.c rgb2hsv_row / hsv2rgb) ----
// All tables are small (L1-resident); the float32 arithmetic of PIL is reproduced with
// Math.fround where C stores into a float, and left in double where C computes in double.
// SAT[cr * 256 + maxc] = CLIP8((int)(fround(cr / maxc) * 255.0))
let SAT: Uint8Array | undefined;
const HSV_I = new Uint8Array(256); // floor(h * 6 / 255) % 6
const HSV_F = new Float64Array(256); // fround(h * 6 / 255 - i)
const HSV_FS = new Float64Array(256); // fround(s / 255)
const INV = new Float64Array(256).map((_, c) => (c === 0 ? 0 : 1 / c));
const SIXTH = 1 / 6;

function hueTables(): void {
  if (SAT) return;
  SAT = new Uint8Array(65536);
  for (let cr = 0; cr < 256; cr++) {
    for (let maxc = Math.max(cr, 1); maxc < 256; maxc++) {
      const v = Math.trunc(Math.fround(cr / maxc) * 255.0);
      SAT[cr * 256 + maxc] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  for (let h = 0; h < 256; h++) {
    const hd = (h * 6.0) / 255.0;
    const i = Math.floor(hd);
    HSV_I[h] = i % 6;
    HSV_F[h] = Math.fround(hd - i);
    HSV_FS[h] = Math.fround(h / 255.0);
  }
}

/**
 * torchvision F.adjust_hue on a PIL image: convert to HSV, add uint8(hue * 255) to H with
 * uint8 wrap-around, convert back. `hue` in [-0.5, 0.5]. A shift of 0 is skipped (PIL's HSV
 * round trip would otherwise lose up to one level).
 */
export function adjustHue(data: Uint8Array, pixels: number, channels: number, hue: number): void {
  if (channels < 3) return;
  const shift = ((Math.trunc(hue * 255) % 256) + 256) % 256;
  if (shift === 0) return;
  const native = augmentKernels();
  if (native) {
    native.augHue(data, pixels, channels, shift);
    return;
  }
  hueTables();
  const sat = SAT!;
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const r = data[o];
    const g = data[o + 1];
    const b = data[o + 2];
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    if (maxc === minc) continue; // s = 0: grey, hue has no effect (PIL gives v, v, v)
    const cr = maxc - minc;
    let h: number;
    // rc = fround((maxc - r) / cr) etc., float32 divisions in PIL. fround(d * (1 / cr)) equals
    // fround(d / cr) for every 0 <= d <= cr <= 255 (checked exhaustively), and is cheaper.
    const inv = INV[cr];
    if (r === maxc) h = Math.fround(Math.fround((maxc - b) * inv) - Math.fround((maxc - g) * inv));
    else if (g === maxc) h = Math.fround(2.0 + Math.fround((maxc - r) * inv) - Math.fround((maxc - b) * inv)); // C: double arithmetic, one rounding
    else h = Math.fround(4.0 + Math.fround((maxc - g) * inv) - Math.fround((maxc - r) * inv));
    // fmod(h / 6 + 1, 1): h is in [-1, 5], so h / 6 + 1 is in [5/6, 11/6) and subtracting 1
    // when it is >= 1 is exact (Sterbenz) - and much faster than % on doubles. h * (1/6)
    // gives the same float32 as h / 6 for every reachable h (checked exhaustively).
    let hh = h * SIXTH + 1.0;
    if (hh >= 1.0) hh -= 1.0;
    let uh = Math.trunc(Math.fround(hh) * 255.0);
    uh = uh < 0 ? 0 : uh > 255 ? 255 : uh;
    const us = sat[cr * 256 + maxc];
    const v = maxc;
    const h2 = (uh + shift) & 255;
    const fs = HSV_FS[us];
    const f = HSV_F[h2];
    const p = clip8round(v * (1.0 - fs));
    const q = clip8round(v * (1.0 - fs * f));
    const t = clip8round(v * (1.0 - fs * (1.0 - f)));
    switch (HSV_I[h2]) {
      case 0: data[o] = v; data[o + 1] = t; data[o + 2] = p; break;
      case 1: data[o] = q; data[o + 1] = v; data[o + 2] = p; break;
      case 2: data[o] = p; data[o + 1] = v; data[o + 2] = t; break;
      case 3: data[o] = p; data[o + 1] = q; data[o + 2] = v; break;
      case 4: data[o] = t; data[o + 1] = p; data[o + 2] = v; break;
      default: data[o] = v; data[o + 1] = p; data[o + 2] = q; break;
    }
  }
}

/** RGB -> L replicated to all channels (RandomGrayscale keeps the channel count). */
export function toGrayscale(data: Uint8Array, pixels: number, channels: number): void {
  if (channels < 3) return;
  const native = augmentKernels();
  if (native) {
    native.augGrayscale(data, pixels, channels);
    return;
  }
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const l = luma(data[o], data[o + 1], data[o + 2]);
    data[o] = l;
    data[o + 1] = l;
    data[o + 2] = l;
  }
}

/** ImageOps.solarize: invert every value >= threshold. */
export function solarize(data: Uint8Array, length: number, threshold: number): void {
  for (let v = 0; v < 256; v++) lut[v] = v < threshold ? v : 255 - v;
  applyLut(data, length);
}
