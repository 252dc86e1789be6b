/**
 * Conv2DBackpropInput for the wasm backend: the input gradient of a 2-D convolution (NHWC),
 * computed with XNNPACK forward convolutions instead of the stock 7-deep scalar loop.
 *
 * Per axis, the forward pass is y[oy] = Σ_ky x[oy·s − top + ky] · W[ky], so
 *   dx[y] = Σ_{oy·s + ky = y + top} dy[oy] · W[ky]ᵀ.
 * Split the output rows by sub-pixel phase r = (y + top) mod s: only the taps ky = r + s·j
 * (j < J_r = ceil((k − r)/s)) reach them, from dy rows oy = q − j where y + top = s·q + r.
 * So each of the s_h·s_w phases is a stride-1 convolution of (zero-padded) dy with the
 * flipped, transposed sub-filter W[r + s·(J_r − 1 − i)]ᵀ, and its output rows are scattered
 * into dx every s rows (a strided SIMD copy). The phases together do exactly the
 * multiply-adds of the forward convolution (zero insertion would do s² times as many). For
 * stride 1 there is one phase, the "full convolution with the rotated filter", written
 * straight into dx.
 *
 * Supports 'same', 'valid', numeric and explicit padding, any strides, dilation 1 (the only
 * one tfjs' conv2d gradient allows), NHWC only (like the rest of the wasm backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

const { backend_util } = tf;

/** One phase along one axis. */
export interface AxisPhase {
  /** The phase r: output rows y with (y + pad) mod s = r. */
  r: number;
  /** Filter taps of this phase, ceil((k − r)/s) (0 when r ≥ k). */
  taps: number;
  /** Output rows of this phase (0 when none fall inside [0, n)). */
  rows: number;
  /** First output row, y0 = s·qlo + r − pad; the phase's rows are y0, y0 + s, … */
  y0: number;
  /** Rows of dy to drop before / after (when the zero padding needed would be negative). */
  cropBefore: number;
  cropAfter: number;
  /** Zero padding before / after (cropped) dy for the stride-1 phase convolution. */
  padBefore: number;
  padAfter: number;
}

/**
 * Phase geometry of one axis: input length n, dy length m, kernel k, stride s, forward
 * padding before the input `pad`, dilation d (d > 1 only with s = 1: then the single phase
 * is a convolution dilated by d).
 */
export function axisPhases(n: number, m: number, k: number, s: number, pad: number, d = 1): AxisPhase[] {
  if (d > 1 && s > 1) throw new ArgumentError('axisPhases', 'd', `cannot exceed 1 with stride ${s} > 1, got ${d}`);
  const phases: AxisPhase[] = [];
  for (let r = 0; r < s; r++) {
    const taps = r < k ? Math.ceil((k - r) / s) : 0;
    const qlo = Math.ceil((pad - r) / s);
    const qhi = Math.floor((n - 1 + pad - r) / s);
    const rows = Math.max(0, qhi - qlo + 1);
    // The conv reads dy rows oy = q − (taps − 1)·d + i·d for q in [qlo, qhi], i < taps.
    let padBefore = (taps - 1) * d - qlo;
    let cropBefore = 0;
    if (padBefore < 0) {
      cropBefore = Math.min(m, -padBefore);
      padBefore = 0;
    }
    let padAfter = rows + (taps - 1) * d - padBefore - (m - cropBefore);
    let cropAfter = 0;
    if (padAfter < 0) {
      cropAfter = -padAfter;
      padAfter = 0;
    }
    phases.push({ r, taps, rows, y0: s * qlo + r - pad, cropBefore, cropAfter, padBefore, padAfter });
  }
  return phases;
}

/**
 * The sub-filter of phase (ry, rx): Wr[i, j, o, c] = W[ry + sh·(Jh−1−i), rx + sw·(Jw−1−j), c, o]
 * for a forward filter W [kh, kw, Ci, Co]; shape [Jh, Jw, Co, Ci].
 */
export function phaseFilter(
  w: Float32Array,
  kw: number,
  ci: number,
  co: number,
  sh: number,
  sw: number,
  py: AxisPhase,
  px: AxisPhase,
): Float32Array {
  const jh = py.taps;
  const jw = px.taps;
  const out = new Float32Array(jh * jw * co * ci);
  for (let i = 0; i < jh; i++) {
    const ky = py.r + sh * (jh - 1 - i);
    for (let j = 0; j < jw; j++) {
      const kx = px.r + sw * (jw - 1 - j);
      const src = (ky * kw + kx) * ci * co;
      const dst = (i * jw + j) * co * ci;
      for (let c = 0; c < ci; c++) {
        for (let o = 0; o < co; o++) out[dst + o * ci + c] = w[src + c * co + o];
      }
    }
  }
  return out;
}

export function conv2DBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const dy = inputs.dy as Info;
  const filter = inputs.filter as Info;
  const dataFormat = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  if (dataFormat !== 'channelsLast') {
    throw new ArgumentError('wasm Conv2DBackpropInput', 'dataFormat', `must be 'NHWC' (the wasm backend's only layout), got '${attrs.dataFormat}'`);
  }
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new ArgumentError('wasm Conv2DBackpropInput', 'dy, filter', `must be float32, got ${dy.dtype} and ${filter.dtype}`);
  }
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    dataFormat,
  );
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const [, ho, wo] = dy.shape;
  const ys = axisPhases(h, ho, kh, sh, info.padInfo.top);
  const xs = axisPhases(w, wo, kw, sw, info.padInfo.left);

  const s = new KernelScope(backend);
  try {
    const single = sh === 1 && sw === 1;
    // Every dx row is written by its phase's convolution unless that phase has no taps or
    // no dy row reaches it; then dx starts zeroed.
    const reached = (p: AxisPhase, m: number) => p.rows === 0 || (p.taps > 0 && m - p.cropBefore - p.cropAfter > 0);
    const complete = ys.every((p) => reached(p, ho)) && xs.every((p) => reached(p, wo));
    const dx = single ? undefined : complete ? s.output([b, h, w, ci]) : s.zeros([b, h, w, ci]);
    if (single && (ys[0].taps === 0 || xs[0].taps === 0 || b * h * w * ci === 0)) return s.keep(s.zeros([b, h, w, ci]));
    const simd = simdKernels(backend);
    for (const py of ys) {
      for (const px of xs) {
        if (py.rows === 0 || px.rows === 0 || py.taps === 0 || px.taps === 0) continue;
        const wr = s.fromValues([py.taps, px.taps, co, ci], phaseFilter(heapF32(backend, filter), kw, ci, co, sh, sw, py, px));
        let src: Info = dy;
        const mh = ho - py.cropBefore - py.cropAfter;
        const mw = wo - px.cropBefore - px.cropAfter;
        if (mh <= 0 || mw <= 0) continue; // no dy row reaches this phase: dx stays 0 there
        if (mh !== ho || mw !== wo) {
          src = s.output([b, mh, mw, co]);
          simd.copyRows(
            ptr(backend, dy) + (py.cropBefore * wo + px.cropBefore) * co * 4, ptr(backend, src),
            b, mh, 1, mw * co,
            ho * wo * co * 4, wo * co * 4, 0,
            mh * mw * co * 4, mw * co * 4, 0,
          );
        }
        const z = s.run('Conv2D', { x: src, filter: wr }, {
          strides: [1, 1],
          pad: [[0, 0], [py.padBefore, py.padAfter], [px.padBefore, px.padAfter], [0, 0]],
          dilations: [1, 1],
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
        }); // [B, rows_y, rows_x, Ci]
        s.free(wr); // and the XNNPACK operator cached on it
        if (src !== dy) s.free(src);
        if (dx === undefined) return s.keep(z); // stride 1: z is dx
        simd.copyRows(
          ptr(backend, z), ptr(backend, dx) + (py.y0 * w + px.y0) * ci * 4,
          b, py.rows, px.rows, ci,
          py.rows * px.rows * ci * 4, px.rows * ci * 4, ci * 4,
          h * w * ci * 4, sh * w * ci * 4, sw * ci * 4,
        );
        s.free(z);
      }
    }
    if (dx === undefined) return s.keep(s.zeros([b, h, w, ci]));
    return s.keep(dx);
  } finally {
    s.dispose();
  }
}

export const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
};
