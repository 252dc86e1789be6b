/**
 * Conv2DBackpropFilter for the wasm backend (the stock backend has none): the filter gradient
 * of a 2-D convolution (NHWC),
 *
 *   dW[ky, kx, ci, co] = Σ_{b, oy, ox} xpad[b, oy·sh + ky, ox·sw + kx, ci] · dy[b, oy, ox, co]
 *
 * computed by XNNPACK in one of two ways (`method`):
 *
 * 'gemm' (default): im2col + matrix product, over chunks of the batch.
 *   1. x is transposed once to channel-major, zero-padded, sub-pixel-phase grids
 *      xph[ry, rx][ci, b, u, v] = xpad[b, u·sh + ry, v·sw + rx, ci]   (SIMD transpose)
 *      so that every tap (ky, kx) = (ay·sh + ry, ax·sw + rx) reads a plain shifted window of one
 *      grid: rows of Wo contiguous values.
 *   2. For each chunk of images, colsᵀ [kh·kw·Ci, P] (P = pixels of the chunk) is gathered
 *      with strided SIMD row copies, and one XNNPACK fully-connected product
 *      colsᵀ · dy_chunk [P, Co] → [kh·kw·Ci, Co] is added into dW, whose layout it already has.
 *   The chunk keeps colsᵀ near a few MB (cache-friendly, bounded memory, shorter float32 sums).
 *
 * 'conv': one forward convolution whose "images" are the input channels and whose "channels"
 *   are the batch: conv2d(transpose(x) [Ci, H, W, B], transpose(dy) [Ho, Wo, B, Co] as a
 *   Ho x Wo filter, dilation (sh, sw)) → [Ci, kh, kw, Co], then reordered to [kh, kw, Ci, Co].
 *   No im2col copy, but XNNPACK re-reads the huge packed filter for every few output pixels.
 *
 * Both fold the forward padding into zero padding, support 'same', 'valid', numeric and
 * explicit padding, any strides, dilation 1 (all tfjs' conv2d gradient allows), NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

const { backend_util } = tf;

/**
 * Tuning knobs (bench/wasmKernels.ts compares the methods): the formulation, and the target
 * size in bytes of one chunk's colsᵀ for 'gemm'.
 */
export const conv2DBackpropFilterOptions: { method: 'gemm' | 'conv'; chunkBytes: number } = { method: 'gemm', chunkBytes: 4 << 20 };

interface Geometry {
  b: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ho: number;
  wo: number;
  top: number;
  left: number;
}

export function conv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  if (dataFormat !== 'channelsLast') {
    throw new ArgumentError('wasm Conv2DBackpropFilter', 'dataFormat', `must be 'NHWC' (the wasm backend's only layout), got '${attrs.dataFormat}'`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new ArgumentError('wasm Conv2DBackpropFilter', 'x, dy', `must be float32, got ${x.dtype} and ${dy.dtype}`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  const g: Geometry = {
    b: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    co: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    ho: dy.shape[1],
    wo: dy.shape[2],
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
  const s = new KernelScope(backend);
  try {
    if (g.ho === 0 || g.wo === 0 || g.b === 0) return s.keep(s.zeros([g.kh, g.kw, g.ci, g.co]));
    const dw = conv2DBackpropFilterOptions.method === 'conv' ? viaConv(s, x, dy, g) : viaGemm(s, x, dy, g);
    return s.keep(dw);
  } finally {
    s.dispose();
  }
}

/** The 'gemm' method (see the module comment). */
function viaGemm(s: KernelScope, x: Info, dy: Info, g: Geometry): Info {
  const be = s.backend;
  const simd = simdKernels(be);
  const { b, h, w, ci, co, kh, kw, sh, sw, ho, wo, top, left } = g;
  // Phase grids: rows u < hu, columns v < wu of each phase (ry, rx) that some tap uses
  // (ry < kh, rx < kw: a 1x1 stride-2 filter reads one phase of four).
  const hu = ho + Math.ceil(kh / sh) - 1;
  const wu = wo + Math.ceil(kw / sw) - 1;
  const phY = Math.min(sh, kh);
  const phX = Math.min(sw, kw);
  const grid = ci * b * hu * wu;
  const xph = s.zeros([phY * phX, ci, b, hu, wu]);
  for (let ry = 0; ry < phY; ry++) {
    // Rows u whose input row y = u·sh + ry − top lies in [0, h).
    const u0 = Math.max(0, Math.ceil((top - ry) / sh));
    const u1 = Math.min(hu, Math.floor((h - 1 + top - ry) / sh) + 1);
    for (let rx = 0; rx < phX; rx++) {
      const v0 = Math.max(0, Math.ceil((left - rx) / sw));
      const v1 = Math.min(wu, Math.floor((w - 1 + left - rx) / sw) + 1);
      if (u1 <= u0 || v1 <= v0) continue;
      const phase = ptr(be, xph) + (ry * phX + rx) * grid * 4;
      for (let n = 0; n < b; n++) {
        // xph[phase][c, n, u, v] = x[n, u·sh + ry − top, v·sw + rx − left, c]:
        // per row u, a transpose of the [v1 − v0, Ci] block (source pixels sw apart).
        const src = ptr(be, x) + ((n * h + (u0 * sh + ry - top)) * w + (v0 * sw + rx - left)) * ci * 4;
        const dst = phase + ((n * hu + u0) * wu + v0) * 4;
        simd.transpose(src, dst, u1 - u0, v1 - v0, ci, sh * w * ci * 4, sw * ci * 4, wu * 4, b * hu * wu * 4);
      }
    }
  }
  const taps = kh * kw;
  const rows = taps * ci; // rows of colsᵀ, the filter's [kh, kw, Ci] order
  const pix = ho * wo;
  const bc = Math.max(1, Math.min(b, Math.floor(conv2DBackpropFilterOptions.chunkBytes / (rows * pix * 4))));
  const cols = s.output([rows, bc * pix]);
  const dw = s.zeros([kh, kw, ci, co]);
  for (let n0 = 0; n0 < b; n0 += bc) {
    const nb = Math.min(bc, b - n0);
    const p = nb * pix;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const ry = ky % sh;
        const rx = kx % sw;
        const ay = (ky - ry) / sh;
        const ax = (kx - rx) / sw;
        const src = ptr(be, xph) + ((ry * phX + rx) * grid + (n0 * hu + ay) * wu + ax) * 4;
        const dst = ptr(be, cols) + (ky * kw + kx) * ci * p * 4;
        // cols[(tap, c), (n, oy, ox)] = xph[phase][c, n0 + n, oy + ay, ox + ax]
        simd.copyRows(src, dst, ci, nb, ho, wo, b * hu * wu * 4, hu * wu * 4, wu * 4, p * 4, pix * 4, wo * 4);
      }
    }
    const lhs = s.view(cols, 0, [1, rows, p]);
    const rhs = s.view(dy, n0 * pix * co, [1, p, co]);
    const part = s.stock('BatchMatMul', { a: lhs, b: rhs }, { transposeA: false, transposeB: false }); // [1, rows, Co]
    s.freeView(rhs); // and the XNNPACK operator (packed dy chunk) cached on it
    s.freeView(lhs);
    simd.addInto(ptr(be, dw), ptr(be, part), rows * co);
    s.free(part);
  }
  return dw;
}

/** The 'conv' method (see the module comment). */
function viaConv(s: KernelScope, x: Info, dy: Info, g: Geometry): Info {
  const be = s.backend;
  const simd = simdKernels(be);
  const { b, h, w, ci, co, kh, kw, sh, sw, ho, wo, top, left } = g;
  // Zero padding after x so that the dilated Ho x Wo window yields at least kh x kw outputs.
  const bottom = Math.max(0, (ho - 1) * sh + kh - h - top);
  const right = Math.max(0, (wo - 1) * sw + kw - w - left);
  const outH = h + top + bottom - (ho - 1) * sh;
  const outW = w + left + right - (wo - 1) * sw;
  const xt = s.output([ci, h, w, b]);
  const dyt = s.output([ho, wo, b, co]);
  // xt[c, p, n] = x[n, p, c] for each pixel p: a strided SIMD transpose of [B, Ci] blocks.
  simd.transpose(ptr(be, x), ptr(be, xt), h * w, b, ci, ci * 4, h * w * ci * 4, b * 4, h * w * b * 4);
  // dyt[p, n, :] = dy[n, p, :]: rows of Co floats move.
  simd.copyRows(ptr(be, dy), ptr(be, dyt), ho * wo, b, 1, co, co * 4, ho * wo * co * 4, 0, b * co * 4, co * 4, 0);
  const out = s.run('Conv2D', { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dilations: [sh, sw],
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
  }); // [Ci, outH, outW, Co]
  s.free(dyt); // and the XNNPACK operator cached on it
  s.free(xt);
  const dw = s.output([kh, kw, ci, co]);
  // dw[ky, kx, c, o] = out[c, ky, kx, o]: small (the filter size).
  const gv = heapF32(be, out);
  const dv = heapF32(be, dw);
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let c = 0; c < ci; c++) {
        const src = ((c * outH + ky) * outW + kx) * co;
        dv.set(gv.subarray(src, src + co), ((ky * kw + kx) * ci + c) * co);
      }
    }
  }
  return dw;
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
