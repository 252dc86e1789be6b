/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (the stock backend has none): the
 * filter gradient of a depthwise convolution, x [B, H, W, C], dy [B, Ho, Wo, C·M]:
 *   df[ky, kx, c, m] = Σ_{b, oy, ox} x[b, oy·s + ky·d − top, ox·s + kx·d − left, c] · dy[b, oy, ox, c·M + m]
 * This is one XNNPACK depthwise convolution with the batch moved into the channels:
 *   in  = x arranged [1, H, W, B·C]          (channel b·C + c)
 *   f   = dy arranged [Ho, Wo, B·C, M]        (a Ho x Wo filter, multiplier M)
 *   out = depthwiseConv2d(in, f, stride d, dilation s, padding (top, ·, left, ·))  [1, kh, kw, B·C·M]
 * followed by a sum over b (a SIMD column sum per tap). The forward padding is folded into
 * the convolution's zero padding, as in conv2DBackpropFilter.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';

const { backend_util } = tf;

export function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}): Info {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`wasm DepthwiseConv2dNativeBackpropFilter supports float32 only, got x ${x.dtype}, dy ${dy.dtype}`);
  }
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = attrs.filterShape[3];
  const cm = c * mult;
  const [, ho, wo] = dy.shape;
  const { top, left } = info.padInfo;

  const s = new KernelScope(backend);
  try {
    if (b === 0 || ho === 0 || wo === 0) return s.keep(s.zeros([kh, kw, c, mult]));
    const simd = simdKernels(backend);
    const xin = s.output([1, h, w, b * c]);
    simd.copyRows(ptr(backend, x), ptr(backend, xin), h * w, b, 1, c, c * 4, h * w * c * 4, 0, b * c * 4, c * 4, 0);
    const f = s.output([ho, wo, b * c, mult]);
    simd.copyRows(ptr(backend, dy), ptr(backend, f), ho * wo, b, 1, cm, cm * 4, ho * wo * cm * 4, 0, b * cm * 4, cm * 4, 0);
    // Zero padding after x so that at least kh x kw outputs come out (extra ones are dropped).
    const effH = (ho - 1) * sh + 1;
    const effW = (wo - 1) * sw + 1;
    const bottom = Math.max(0, (kh - 1) * dh + effH - h - top);
    const right = Math.max(0, (kw - 1) * dw + effW - w - left);
    const out = s.run('DepthwiseConv2dNative', { x: xin, filter: f }, {
      strides: [dh, dw],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    }); // [1, outH ≥ kh, outW ≥ kw, B·C·M]
    s.free(f); // and the XNNPACK operator cached on it
    s.free(xin);
    const outW = out.shape[2];
    const df = s.zeros([kh, kw, c, mult]);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        // Σ over b of the [B, C·M] block of tap (ky, kx).
        simd.colSum(ptr(backend, out) + (ky * outW + kx) * b * cm * 4, b, cm, ptr(backend, df) + (ky * kw + kx) * cm * 4);
      }
    }
    return s.keep(df);
  } finally {
    s.dispose();
  }
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
