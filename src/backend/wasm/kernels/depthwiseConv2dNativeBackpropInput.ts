/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (the stock backend has none): the
 * input gradient of a depthwise convolution, x [B, H, W, C], filter [kh, kw, C, M] (channel
 * multiplier M ≥ 1), dy [B, Ho, Wo, C·M]:
 *   dx[b, y, x, c] = Σ_{ky, kx, m} dy[b, oy, ox, c·M + m] · f[ky, kx, c, m],  oy·s − top + ky·d = y
 * Same sub-pixel phase decomposition as conv2DBackpropInput.ts, with XNNPACK depthwise
 * convolutions: each phase convolves dy (C·M channels, multiplier 1) with its flipped taps,
 * the M products of each channel are summed (stock Sum over the innermost axis, skipped for
 * M = 1), and the phase rows are scattered into dx. Dilation d > 1 is supported with stride 1
 * (one dilated phase), as TensorFlow allows either strides or dilations above 1, not both.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, alias, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { axisPhases, type AxisPhase } from './conv2DBackpropInput.ts';

const { backend_util } = tf;

/** Flipped taps of one phase: g[i, j, c·M + m, 0] = f[ry + sh·(Jh−1−i)·, rx + …, c, m]. */
function phaseTaps(f: Float32Array, kw: number, cm: number, sh: number, sw: number, py: AxisPhase, px: AxisPhase): Float32Array {
  const out = new Float32Array(py.taps * px.taps * cm);
  for (let i = 0; i < py.taps; i++) {
    const ky = py.r + sh * (py.taps - 1 - i);
    for (let j = 0; j < px.taps; j++) {
      const kx = px.r + sw * (px.taps - 1 - j);
      out.set(f.subarray((ky * kw + kx) * cm, (ky * kw + kx + 1) * cm), (i * px.taps + j) * cm);
    }
  }
  return out;
}

export function depthwiseConv2dNativeBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const dy = inputs.dy as Info;
  const filter = inputs.filter as Info;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`wasm DepthwiseConv2dNativeBackpropInput supports float32 only, got dy ${dy.dtype}, filter ${filter.dtype}`);
  }
  const dil = attrs.dilations ?? 1;
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    dil,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = filter.shape[3];
  const cm = c * mult;
  const [, ho, wo] = dy.shape;
  if ((sh > 1 && dh > 1) || (sw > 1 && dw > 1)) {
    throw new Error(`wasm DepthwiseConv2dNativeBackpropInput: strides [${sh}, ${sw}] and dilations [${dh}, ${dw}] cannot both exceed 1 on one axis`);
  }
  const ys = axisPhases(h, ho, kh, sh, info.padInfo.top, dh);
  const xs = axisPhases(w, wo, kw, sw, info.padInfo.left, dw);

  const s = new KernelScope(backend);
  try {
    const simd = simdKernels(backend);
    const dx = s.zeros([b, h, w, c]);
    for (const py of ys) {
      for (const px of xs) {
        if (py.rows === 0 || px.rows === 0 || py.taps === 0 || px.taps === 0) continue;
        const mh = ho - py.cropBefore - py.cropAfter;
        const mw = wo - px.cropBefore - px.cropAfter;
        if (mh <= 0 || mw <= 0) continue;
        const taps = s.fromValues([py.taps, px.taps, cm, 1], phaseTaps(heapF32(backend, filter), kw, cm, sh, sw, py, px));
        let src: Info = dy;
        if (mh !== ho || mw !== wo) {
          src = s.output([b, mh, mw, cm]);
          simd.copyRows(
            ptr(backend, dy) + (py.cropBefore * wo + px.cropBefore) * cm * 4, ptr(backend, src),
            b, mh, 1, mw * cm,
            ho * wo * cm * 4, wo * cm * 4, 0,
            mh * mw * cm * 4, mw * cm * 4, 0,
          );
        }
        let z = s.run('DepthwiseConv2dNative', { x: src, filter: taps }, {
          strides: [1, 1],
          pad: [[0, 0], [py.padBefore, py.padAfter], [px.padBefore, px.padAfter], [0, 0]],
          dilations: [dh, dw],
          dimRoundingMode: undefined,
        }); // [B, rows_y, rows_x, C·M]
        s.free(taps);
        if (src !== dy) s.free(src);
        if (mult > 1) {
          const summed = s.stock('Sum', { x: alias(z, [b * py.rows * px.rows * c, mult]) }, { axis: [1], keepDims: false });
          s.free(z);
          z = summed;
        }
        simd.copyRows(
          ptr(backend, z), ptr(backend, dx) + (py.y0 * w + px.y0) * c * 4,
          b, py.rows, px.rows, c,
          py.rows * px.rows * c * 4, px.rows * c * 4, c * 4,
          h * w * c * 4, sh * w * c * 4, sw * c * 4,
        );
        s.free(z);
      }
    }
    return s.keep(dx);
  } finally {
    s.dispose();
  }
}

export const depthwiseConv2dNativeBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as tf.KernelFunc,
};
