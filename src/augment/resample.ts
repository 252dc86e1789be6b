/**
 * Antialiased bilinear resampling of uint8 images, with PIL's semantics (the resize behind
 * torchvision's `RandomResizedCrop` / `Resize` on PIL images, `antialias=True`):
 *
 *   scale   = (in1 - in0) / outSize,  filterscale = max(scale, 1)
 *   center  = in0 + (x + 0.5) * scale
 *   taps    = source pixels i with |i + 0.5 - center| < filterscale, clipped to [lo, hi)
 *   w_i     = max(0, 1 - |i + 0.5 - center| / filterscale), normalised to sum 1
 *
 * separably (horizontal pass, then vertical) in fixed point, rounding once at the end. `[lo, hi)` bounds the pixels that may be read: torchvision crops first and then
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
  count: Int32Array; // taps per output
  weights: Int32Array; // [outSize * maxTaps], fixed point, each output's weights sum to 2^14
  maxTaps: number;
  first: number; // smallest source index read
  last: number; // one past the largest source index read
}

const WBITS = 14; // weight precision
const XBITS = 7; // extra precision kept between the two passes
const ONE = 1 << WBITS;
let wScratch = new Float64Array(0);

function coefficients(in0: number, in1: number, lo: number, hi: number, outSize: number): Coeffs {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // bilinear (triangle) support is 1
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * maxTaps);
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
    const base = x * maxTaps;
    let sum = 0;
    let big = 0;
    for (let k = 0; k < n; k++) {
      const q = total > 0 ? Math.round((wf[k] / total) * ONE) : Math.round(ONE / n);
      weights[base + k] = q;
      sum += q;
      if (q > weights[base + big]) big = k;
    }
    weights[base + big] += ONE - sum; // exact unit gain: flat regions stay exact
    start[x] = xmin;
    count[x] = n;
    if (xmin < first) first = xmin;
    if (xmin + n > last) last = xmin + n;
  }
  return { start, count, weights, maxTaps, first, last };
}

let rowScratch = new Int32Array(0);

/**
 * Resamples `box` of `src` (HWC uint8, `channels` interleaved, row stride `srcStride`
 * elements) to `outW x outH`, writing HWC uint8 into `out` (row stride `outW * channels`).
 * Fixed point: 14-bit weights, 7 extra bits between the passes, one rounding at the end.
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
  const cx = coefficients(box.x0, box.x1, lox, hix, outW);
  const cy = coefficients(box.y0, box.y1, loy, hiy, outH);
  const C = channels;
  const rowLen = outW * C;
  const rows = cy.last - cy.first;
  const need = rows * rowLen;
  if (rowScratch.length < need) rowScratch = new Int32Array(need);
  const tmp = rowScratch;
  // Horizontal pass over the rows the vertical pass will read.
  if (C === 3) horizontal3(src, srcStride, cy.first, cy.last, cx, tmp, outW);
  else if (C === 1) horizontal1(src, srcStride, cy.first, cy.last, cx, tmp, outW);
  else horizontalN(src, srcStride, C, cy.first, cy.last, cx, tmp, outW);
  vertical(tmp, cy, rowLen, outH, out);
}

function vertical(tmp: Int32Array, cy: Coeffs, rowLen: number, outH: number, out: Uint8Array): void {
  const wy = cy.weights;
  const shift = WBITS + XBITS;
  const half = 1 << (shift - 1);
  for (let y = 0; y < outH; y++) {
    const s = (cy.start[y] - cy.first) * rowLen;
    const n = cy.count[y];
    const wb = y * cy.maxTaps;
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let a = half;
      let r = s + i;
      for (let k = 0; k < n; k++) {
        a += tmp[r] * wy[wb + k];
        r += rowLen;
      }
      const v = a >> shift;
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}

const HR = 1 << (XBITS - 1);
const HS = WBITS - XBITS;

function horizontal3(src: Uint8Array, stride: number, r0: number, r1: number, cx: Coeffs, tmp: Int32Array, outW: number): void {
  const { start, count, weights, maxTaps } = cx;
  let t = 0;
  for (let r = r0; r < r1; r++) {
    const rowOff = r * stride;
    for (let x = 0; x < outW; x++) {
      let p = rowOff + start[x] * 3;
      const n = count[x];
      const wb = x * maxTaps;
      let a0 = HR, a1 = HR, a2 = HR;
      for (let k = 0; k < n; k++) {
        const w = weights[wb + k];
        a0 += src[p] * w;
        a1 += src[p + 1] * w;
        a2 += src[p + 2] * w;
        p += 3;
      }
      tmp[t] = a0 >> HS;
      tmp[t + 1] = a1 >> HS;
      tmp[t + 2] = a2 >> HS;
      t += 3;
    }
  }
}

function horizontal1(src: Uint8Array, stride: number, r0: number, r1: number, cx: Coeffs, tmp: Int32Array, outW: number): void {
  const { start, count, weights, maxTaps } = cx;
  let t = 0;
  for (let r = r0; r < r1; r++) {
    const rowOff = r * stride;
    for (let x = 0; x < outW; x++) {
      let p = rowOff + start[x];
      const n = count[x];
      const wb = x * maxTaps;
      let a = HR;
      for (let k = 0; k < n; k++) a += src[p++] * weights[wb + k];
      tmp[t++] = a >> HS;
    }
  }
}

function horizontalN(src: Uint8Array, stride: number, C: number, r0: number, r1: number, cx: Coeffs, tmp: Int32Array, outW: number): void {
  const { start, count, weights, maxTaps } = cx;
  let t = 0;
  for (let r = r0; r < r1; r++) {
    const rowOff = r * stride;
    for (let x = 0; x < outW; x++) {
      const n = count[x];
      const wb = x * maxTaps;
      for (let c = 0; c < C; c++) {
        let p = rowOff + start[x] * C + c;
        let a = HR;
        for (let k = 0; k < n; k++) {
          a += src[p] * weights[wb + k];
          p += C;
        }
        tmp[t++] = a >> HS;
      }
    }
  }
}
