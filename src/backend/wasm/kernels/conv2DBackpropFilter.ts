/**
 * Conv2DBackpropFilter for the wasm backend (the stock backend has none): the filter gradient
 * of a 2-D convolution (NHWC), as one XNNPACK forward convolution over transposed tensors.
 *
 *   dW[ky, kx, ci, co] = Σ_{b, oy, ox} xpad[b, oy·sh + ky, ox·sw + kx, ci] · dy[b, oy, ox, co]
 *
 * is a convolution whose "images" are the input channels and whose "channels" are the batch:
 *   X' = transpose(x, [3, 1, 2, 0])   [Ci, H, W, B]
 *   F' = transpose(dy, [1, 2, 0, 3])  [Ho, Wo, B, Co]   (a Ho x Wo filter)
 *   conv2d(X', F', stride 1, dilation (sh, sw), padding (top, ·, left, ·)) → [Ci, kh, kw, Co]
 * then transpose [1, 2, 0, 3] → [kh, kw, Ci, Co]. The forward padding is folded into the
 * convolution's own zero padding (bottom/right are set so that exactly kh x kw outputs come
 * out, or cropped when the forward pass ignored trailing rows), so x is never padded.
 *
 * Supports 'same', 'valid', numeric and explicit padding, any strides, dilation 1, NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';

const { backend_util } = tf;

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
    throw new Error(`wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only, got '${attrs.dataFormat}'`);
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
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const ho = dy.shape[1];
  const wo = dy.shape[2];
  const { top, left } = info.padInfo;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`wasm Conv2DBackpropFilter supports float32 only, got x ${x.dtype}, dy ${dy.dtype}`);
  }

  const s = new KernelScope(backend);
  try {
    if (ho === 0 || wo === 0 || b === 0) {
      return s.keep(s.zeros([kh, kw, ci, co]));
    }
    // Zero padding after x so that the dilated Ho x Wo window yields exactly kh x kw outputs.
    const bottom = Math.max(0, (ho - 1) * sh + kh - h - top);
    const right = Math.max(0, (wo - 1) * sw + kw - w - left);
    const outH = h + top + bottom - (ho - 1) * sh;
    const outW = w + left + right - (wo - 1) * sw;

    const simd = simdKernels(backend);
    const xt = s.output([ci, h, w, b]);
    const dyt = s.output([ho, wo, b, co]);
    // xt[c, p, n] = x[n, p, c] for each pixel p: a strided SIMD transpose of [B, Ci] blocks.
    simd.transpose(ptr(backend, x), ptr(backend, xt), h * w, b, ci, ci * 4, h * w * ci * 4, b * 4, h * w * b * 4);
    // dyt[p, n, :] = dy[n, p, :]: rows of Co floats move.
    simd.copyRows(ptr(backend, dy), ptr(backend, dyt), ho * wo, b, 1, co, co * 4, ho * wo * co * 4, 0, b * co * 4, co * 4, 0);
    const g = s.run('Conv2D', { x: xt, filter: dyt }, {
      strides: [1, 1],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dilations: [sh, sw],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    }); // [Ci, outH, outW, Co]
    s.free(dyt); // frees the XNNPACK operator cached on it
    s.free(xt);
    const dw = s.output([kh, kw, ci, co]);
    // dw[ky, kx, c, o] = g[c, ky, kx, o]: small (the filter size), done here in one pass.
    const gv = heapF32(backend, g);
    const dv = heapF32(backend, dw);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        for (let c = 0; c < ci; c++) {
          const src = ((c * outH + ky) * outW + kx) * co;
          dv.set(gv.subarray(src, src + co), ((ky * kw + kx) * ci + c) * co);
        }
      }
    }
    return s.keep(dw);
  } finally {
    s.dispose();
  }
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
};
