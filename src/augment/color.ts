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

function applyLut(data: Uint8Array, n: number): void {
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
export function adjustSaturation(data: Uint8Array, pixels: number, channels: number, factor: number): void {
  if (factor === 1 || channels < 3) return;
  const a = Math.fround(factor);
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const r = data[o];
    const g = data[o + 1];
    const b = data[o + 2];
    const l = luma(r, g, b);
    data[o] = blend1(l, r, a);
    data[o + 1] = blend1(l, g, a);
    data[o + 2] = blend1(l, b, a);
  }
}

// ---- hue: PIL's uint8 HSV conversion (Convert.c rgb2hsv_row / hsv2rgb), table driven ----
// DIV[d * 256 + cr] = fround(d / cr) for 0 <= d <= cr (float32 division, as in PIL)
let DIV: Float32Array | undefined;
// SAT[cr * 256 + maxc] = CLIP8((int)(fround(cr / maxc) * 255.0))
let SAT: Uint8Array | undefined;
// Per (h, s): case index and the three factors (1 - fs), (1 - fs*f), (1 - fs*(1 - f)) as doubles
let HSV_CASE: Uint8Array | undefined;
let HSV_P: Float64Array | undefined;
let HSV_Q: Float64Array | undefined;
let HSV_T: Float64Array | undefined;

function hueTables(): void {
  if (DIV) return;
  DIV = new Float32Array(65536);
  SAT = new Uint8Array(65536);
  for (let cr = 1; cr < 256; cr++) {
    for (let d = 0; d <= cr; d++) DIV[d * 256 + cr] = Math.fround(d / cr);
  }
  for (let cr = 0; cr < 256; cr++) {
    for (let maxc = Math.max(cr, 1); maxc < 256; maxc++) {
      const s = Math.fround(cr / maxc);
      const v = Math.trunc(s * 255.0);
      SAT[cr * 256 + maxc] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  HSV_CASE = new Uint8Array(65536);
  HSV_P = new Float64Array(65536);
  HSV_Q = new Float64Array(65536);
  HSV_T = new Float64Array(65536);
  for (let h = 0; h < 256; h++) {
    const hd = (h * 6.0) / 255.0;
    const i = Math.floor(hd);
    const f = Math.fround(hd - i);
    for (let s = 0; s < 256; s++) {
      const k = h * 256 + s;
      const fs = Math.fround(s / 255.0);
      HSV_CASE[k] = i % 6;
      HSV_P[k] = 1.0 - fs;
      HSV_Q[k] = 1.0 - fs * f;
      HSV_T[k] = 1.0 - fs * (1.0 - f);
    }
  }
}

function clip8round(x: number): number {
  const r = Math.round(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/**
 * torchvision F.adjust_hue on a PIL image: convert to HSV, add uint8(hue * 255) to H with
 * uint8 wrap-around, convert back. `hue` in [-0.5, 0.5].
 */
export function adjustHue(data: Uint8Array, pixels: number, channels: number, hue: number): void {
  if (channels < 3) return;
  const shift = ((Math.trunc(hue * 255) % 256) + 256) % 256;
  if (shift === 0) return;
  hueTables();
  const div = DIV!;
  const sat = SAT!;
  const hc = HSV_CASE!;
  const hp = HSV_P!;
  const hq = HSV_Q!;
  const ht = HSV_T!;
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const r = data[o];
    const g = data[o + 1];
    const b = data[o + 2];
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    if (maxc === minc) continue; // s = 0: grey, hue has no effect (PIL gives v, v, v)
    const cr = maxc - minc;
    const rc = div[(maxc - r) * 256 + cr];
    const gc = div[(maxc - g) * 256 + cr];
    const bc = div[(maxc - b) * 256 + cr];
    let h: number;
    if (r === maxc) h = Math.fround(bc - gc);
    else if (g === maxc) h = Math.fround(2.0 + rc - bc); // C: double arithmetic, one rounding
    else h = Math.fround(4.0 + gc - rc);
    // fmod(h / 6 + 1, 1): h is in [-1, 5], so h / 6 + 1 is in [5/6, 11/6) and subtracting 1
    // when it is >= 1 is exact (Sterbenz) - and much faster than % on doubles.
    let hh = h / 6.0 + 1.0;
    if (hh >= 1.0) hh -= 1.0;
    h = Math.fround(hh);
    let uh = Math.trunc(h * 255.0);
    uh = uh < 0 ? 0 : uh > 255 ? 255 : uh;
    const us = sat[cr * 256 + maxc];
    const v = maxc;
    if (us === 0) {
      data[o] = v;
      data[o + 1] = v;
      data[o + 2] = v;
      continue;
    }
    const k = ((uh + shift) & 255) * 256 + us;
    const p = clip8round(v * hp[k]);
    const q = clip8round(v * hq[k]);
    const t = clip8round(v * ht[k]);
    switch (hc[k]) {
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
