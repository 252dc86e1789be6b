/**
 * Antialiased bilinear resampling of uint8 images, with PIL's semantics (the resize behind
 * torchvision's `RandomResizedCrop` / `Resize` on PIL images, `antialias=True`):
 *
 *   scale   = (in1 - in0) / outSize,  filterscale = max(scale, 1)
 *   center  = in0 + (x + 0.5) * scale
 *   taps    = source pixels i with |i + 0.5 - center| < filterscale, clipped to [lo, hi)
 *   w_i     = max(0, 1 - |i + 0.5 - center| / filterscale), normalised to sum 1
 *
 * separably (vertical pass, then horizontal) in fixed point, rounding once at the end. `[lo, hi)` bounds the pixels that may be read: torchvision crops first and then
 * resizes, so a crop box is also the read bound (the filter is truncated at the crop's edge).
 * The box may be fractional (used for subsampled chroma planes and DCT-scaled planes).
 */

/** Source rectangle (float) and read bounds (integers, half-open) in source pixels. */
export interface ResampleBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Read bounds; default floor(x0), floor(y0), ceil(x1), ceil(y1). */
  lox?: number;
  loy?: number;
  hix?: number;
  hiy?: number;
}

interface Coeffs {
  start: Int32Array; // first source index per output
  count: Int32Array; // taps per output (zero-weight taps at the ends trimmed)
  weights: Int32Array; // [outSize * maxTaps], fixed point, each output's weights sum to 2^14
  maxTaps: number;
  first: number; // smallest source index read
  last: number; // one past the largest source index read
}

import { augmentKernels } from './nativeKernels.ts';

const WBITS = 14; // weight precision
const XBITS = 7; // extra precision kept between the two passes
const ONE = 1 << WBITS;
let wScratch = new Float64Array(0);

// Two reusable coefficient sets (x and y): no allocation per call.
const slots: { start: Int32Array; count: Int32Array; weights: Int32Array }[] = [
  { start: new Int32Array(0), count: new Int32Array(0), weights: new Int32Array(0) },
  { start: new Int32Array(0), count: new Int32Array(0), weights: new Int32Array(0) },
];

function coefficients(in0: number, in1: number, lo: number, hi: number, outSize: number, slot: 0 | 1): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // bilinear (triangle) support is 1
  const maxTaps = Math.ceil(support) * 2 + 1;
  const sl = slots[slot];
  if (sl.start.length < outSize) {
    sl.start = new Int32Array(outSize);
    sl.count = new Int32Array(outSize);
  }
  if (sl.weights.length < outSize * maxTaps) sl.weights = new Int32Array(outSize * maxTaps);
  const { start, count, weights } = sl;
  if (wScratch.length < maxTaps) wScratch = new Float64Array(maxTaps);
  const wf = wScratch;
  const ss = 1 / filterscale;
  let first = hi;
  let last = lo;
  for (let x = 0; x < outSize; x++) {
    const center = in0 + (x + 0.5) * scale;
    let xmin = Math.floor(center - support + 0.5);
    if (xmin < lo) xmin = lo;
    let xmax = Math.floor(center + support + 0.5);
    if (xmax > hi) xmax = hi;
    let n = xmax - xmin;
    if (n < 1) {
      // degenerate (box narrower than a pixel at the edge): take the nearest pixel
      xmin = Math.min(Math.max(Math.floor(center), lo), hi - 1);
      n = 1;
    }
    let total = 0;
    for (let k = 0; k < n; k++) {
      const t = Math.abs((k + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      wf[k] = w;
      total += w;
    }
    // trim zero-weight taps at both ends
    let k0 = 0;
    let k1 = n;
    if (total > 0) {
      while (k0 < k1 - 1 && wf[k0] === 0) k0++;
      while (k1 - 1 > k0 && wf[k1 - 1] === 0) k1--;
    }
    const base = x * maxTaps;
    let sum = 0;
    let big = 0;
    for (let k = k0; k < k1; k++) {
      const q = total > 0 ? Math.round((wf[k] / total) * ONE) : Math.round(ONE / n);
      weights[base + k - k0] = q;
      sum += q;
      if (q > weights[base + big]) big = k - k0;
    }
    weights[base + big] += ONE - sum; // exact unit gain: flat regions stay exact
    start[x] = xmin + k0;
    count[x] = k1 - k0;
    if (xmin + k0 < first) first = xmin + k0;
    if (xmin + k1 > last) last = xmin + k1;
  }
  return { start, count, weights, maxTaps, first, last };
}

let rowScratch = new Int32Array(0);

/**
 * Resamples `box` of `src` (HWC uint8, `channels` interleaved, row stride `srcStride`
 * elements) to `outW x outH`, writing HWC uint8 into `out` (row stride `outW * channels`).
 *
 * Vertical pass first (contiguous rows, unrolled by tap count - the cheap loop gets the
 * larger share of the work), then horizontal on the outH rows. Fixed point: 14-bit weights,
 * 7 extra bits between the passes, one rounding at the end.
 */
export function resampleU8(
  src: Uint8Array,
  srcStride: number,
  channels: number,
  box: ResampleBox,
  outW: number,
  outH: number,
  out: Uint8Array,
): void {
  const lox = box.lox ?? Math.floor(box.x0);
  const loy = box.loy ?? Math.floor(box.y0);
  const hix = box.hix ?? Math.ceil(box.x1);
  const hiy = box.hiy ?? Math.ceil(box.y1);
  const native = augmentKernels();
  if (native) {
    // bit-identical C++ version of the code below
    native.augResample(src, srcStride, channels, box.x0, box.y0, box.x1, box.y1, lox, loy, hix, hiy, outW, outH, out);
    return;
  }
  const cx = coefficients(box.x0, box.x1, lox, hix, outW, 0);
  const cy = coefficients(box.y0, box.y1, loy, hiy, outH, 1);
  const C = channels;
  const colStart = cx.first * C;
  const rowLen = (cx.last - cx.first) * C; // source columns the horizontal pass reads
  const need = outH * rowLen;
  if (rowScratch.length < need) rowScratch = new Int32Array(need);
  const tmp = rowScratch;
  vertical(src, srcStride, colStart, rowLen, cy, outH, tmp);
  if (C === 1) horizontal1(tmp, rowLen, cx, outW, outH, out);
  else if (C === 3) horizontal3(tmp, rowLen, cx, outW, outH, out);
  else horizontalN(tmp, rowLen, C, cx, outW, outH, out);
}

const HR = 1 << (XBITS - 1);
const HS = WBITS - XBITS;
const SHIFT = WBITS + XBITS;
const HALF = 1 << (SHIFT - 1);

/** tmp[y][i] = sum_k w_y[k] * src[start_y + k][colStart + i], with XBITS extra bits. */
function vertical(src: Uint8Array, stride: number, colStart: number, rowLen: number, cy: Coeffs, outH: number, tmp: Int32Array): void {
  const W = cy.weights;
  for (let y = 0; y < outH; y++) {
    const n = cy.count[y];
    const wb = y * cy.maxTaps;
    const t = y * rowLen;
    const s = cy.start[y] * stride + colStart;
    if (n === 1) {
      for (let i = 0; i < rowLen; i++) tmp[t + i] = src[s + i] << XBITS;
    } else if (n === 2) {
      const w0 = W[wb], w1 = W[wb + 1];
      const s1 = s + stride;
      for (let i = 0; i < rowLen; i++) tmp[t + i] = (src[s + i] * w0 + src[s1 + i] * w1 + HR) >> HS;
    } else if (n === 3) {
      const w0 = W[wb], w1 = W[wb + 1], w2 = W[wb + 2];
      const s1 = s + stride, s2 = s1 + stride;
      for (let i = 0; i < rowLen; i++) tmp[t + i] = (src[s + i] * w0 + src[s1 + i] * w1 + src[s2 + i] * w2 + HR) >> HS;
    } else if (n === 4) {
      const w0 = W[wb], w1 = W[wb + 1], w2 = W[wb + 2], w3 = W[wb + 3];
      const s1 = s + stride, s2 = s1 + stride, s3 = s2 + stride;
      for (let i = 0; i < rowLen; i++) tmp[t + i] = (src[s + i] * w0 + src[s1 + i] * w1 + src[s2 + i] * w2 + src[s3 + i] * w3 + HR) >> HS;
    } else if (n === 5) {
      const w0 = W[wb], w1 = W[wb + 1], w2 = W[wb + 2], w3 = W[wb + 3], w4 = W[wb + 4];
      const s1 = s + stride, s2 = s1 + stride, s3 = s2 + stride, s4 = s3 + stride;
      for (let i = 0; i < rowLen; i++) {
        tmp[t + i] = (src[s + i] * w0 + src[s1 + i] * w1 + src[s2 + i] * w2 + src[s3 + i] * w3 + src[s4 + i] * w4 + HR) >> HS;
      }
    } else {
      for (let i = 0; i < rowLen; i++) {
        let a = HR;
        let r = s + i;
        for (let k = 0; k < n; k++) {
          a += src[r] * W[wb + k];
          r += stride;
        }
        tmp[t + i] = a >> HS;
      }
    }
  }
}

// The horizontal passes run column by column: each output column has fixed taps and
// weights, so the loop over rows keeps them in registers (measured ~1.5x faster than the
// row-major order with per-pixel tap lookups).
function horizontal1(tmp: Int32Array, rowLen: number, cx: Coeffs, outW: number, outH: number, out: Uint8Array): void {
  const { start, count, weights: X, maxTaps } = cx;
  const c0 = cx.first;
  for (let x = 0; x < outW; x++) {
    const s = start[x] - c0;
    const n = count[x];
    const wb = x * maxTaps;
    if (n === 2) {
      const w0 = X[wb], w1 = X[wb + 1];
      for (let y = 0, p = s, o = x; y < outH; y++, p += rowLen, o += outW) {
        const v = (tmp[p] * w0 + tmp[p + 1] * w1 + HALF) >> SHIFT;
        out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    } else if (n === 3) {
      const w0 = X[wb], w1 = X[wb + 1], w2 = X[wb + 2];
      for (let y = 0, p = s, o = x; y < outH; y++, p += rowLen, o += outW) {
        const v = (tmp[p] * w0 + tmp[p + 1] * w1 + tmp[p + 2] * w2 + HALF) >> SHIFT;
        out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    } else if (n === 4) {
      const w0 = X[wb], w1 = X[wb + 1], w2 = X[wb + 2], w3 = X[wb + 3];
      for (let y = 0, p = s, o = x; y < outH; y++, p += rowLen, o += outW) {
        const v = (tmp[p] * w0 + tmp[p + 1] * w1 + tmp[p + 2] * w2 + tmp[p + 3] * w3 + HALF) >> SHIFT;
        out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    } else {
      for (let y = 0, p = s, o = x; y < outH; y++, p += rowLen, o += outW) {
        let a = HALF;
        for (let k = 0; k < n; k++) a += tmp[p + k] * X[wb + k];
        const v = a >> SHIFT;
        out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}

function horizontal3(tmp: Int32Array, rowLen: number, cx: Coeffs, outW: number, outH: number, out: Uint8Array): void {
  const { start, count, weights: X, maxTaps } = cx;
  const c0 = cx.first * 3;
  const outRow = outW * 3;
  for (let x = 0; x < outW; x++) {
    const s = start[x] * 3 - c0;
    const n = count[x];
    const wb = x * maxTaps;
    if (n <= 4) {
      // unrolled: missing taps get weight 0 and read the (valid) first tap
      const w0 = X[wb];
      const w1 = n > 1 ? X[wb + 1] : 0;
      const w2 = n > 2 ? X[wb + 2] : 0;
      const w3 = n > 3 ? X[wb + 3] : 0;
      const d1 = n > 1 ? 3 : 0;
      const d2 = n > 2 ? 6 : 0;
      const d3 = n > 3 ? 9 : 0;
      for (let y = 0, p = s, o = x * 3; y < outH; y++, p += rowLen, o += outRow) {
        for (let c = 0; c < 3; c++) {
          const q = p + c;
          const v = (tmp[q] * w0 + tmp[q + d1] * w1 + tmp[q + d2] * w2 + tmp[q + d3] * w3 + HALF) >> SHIFT;
          out[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
      continue;
    }
    for (let y = 0, q = s, o = x * 3; y < outH; y++, q += rowLen, o += outRow) {
      let a0 = HALF, a1 = HALF, a2 = HALF;
      let p = q;
      for (let k = 0; k < n; k++) {
        const w = X[wb + k];
        a0 += tmp[p] * w;
        a1 += tmp[p + 1] * w;
        a2 += tmp[p + 2] * w;
        p += 3;
      }
      let v = a0 >> SHIFT;
      out[o] = v < 0 ? 0 : v > 255 ? 255 : v;
      v = a1 >> SHIFT;
      out[o + 1] = v < 0 ? 0 : v > 255 ? 255 : v;
      v = a2 >> SHIFT;
      out[o + 2] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

function horizontalN(tmp: Int32Array, rowLen: number, C: number, cx: Coeffs, outW: number, outH: number, out: Uint8Array): void {
  const { start, count, weights: X, maxTaps } = cx;
  const c0 = cx.first * C;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    const t = y * rowLen - c0;
    for (let x = 0; x < outW; x++) {
      const n = count[x];
      const wb = x * maxTaps;
      for (let c = 0; c < C; c++) {
        let p = t + start[x] * C + c;
        let a = HALF;
        for (let k = 0; k < n; k++) {
          a += tmp[p] * X[wb + k];
          p += C;
        }
        const v = a >> SHIFT;
        out[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
}
