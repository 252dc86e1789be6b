/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (the stock backend has none): the
 * input gradient of a depthwise convolution, x [B, H, W, C], filter [kh, kw, C, M] (channel
 * multiplier M ≥ 1), dy [B, Ho, Wo, C·M]:
 *   dx[b, y, x, c] = Σ_{ky, kx, m} dy[b, oy, ox, c·M + m] · f[ky, kx, c, m],   oy·s − top + ky·d = y
 * A direct SIMD scatter (simdModule.ts dwInputGrad): for every output pixel and every tap inside
 * the input, four channels of dy·f are added into dx at a time. Any strides and dilations. For
 * M > 1, dy and the filter are first transposed to [.., M, C] so that each m is a
 * channel-contiguous slice, and the M slices accumulate into the same dx.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

const { backend_util } = tf;

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
    throw new ArgumentError('wasm DepthwiseConv2dNativeBackpropInput', 'dy, filter', `must be float32, got ${dy.dtype} and ${filter.dtype}`);
  }
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const { batchSize: b, inHeight: h, inWidth: w, inChannels: c, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const mult = filter.shape[3];
  const cm = c * mult;
  const [, ho, wo] = dy.shape;
  const taps = kh * kw;

  const s = new KernelScope(backend);
  try {
    const simd = simdKernels(backend);
    let dym: Info = dy; // [B, Ho, Wo, M, C]
    let fm: Info = filter; // [kh, kw, M, C]
    if (mult > 1) {
      dym = s.output([b, ho, wo, mult, c]);
      simd.transpose(ptr(backend, dy), ptr(backend, dym), b * ho * wo, c, mult, cm * 4, mult * 4, cm * 4, c * 4);
      fm = s.output([kh, kw, mult, c]);
      simd.transpose(ptr(backend, filter), ptr(backend, fm), taps, c, mult, cm * 4, mult * 4, cm * 4, c * 4);
    }
    const dx = s.zeros([b, h, w, c]);
    for (let n = 0; n < b; n++) {
      for (let m = 0; m < mult; m++) {
        simd.dwInputGrad(
          ptr(backend, dym) + (n * ho * wo * cm + m * c) * 4,
          ptr(backend, fm) + m * c * 4,
          ptr(backend, dx) + n * h * w * c * 4,
          h, w, c, ho, wo, kh, kw, sh, sw, dh, dw, info.padInfo.top, info.padInfo.left,
          cm * 4, cm * 4,
        );
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
