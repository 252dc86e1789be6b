/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (the stock backend has none): the
 * filter gradient of a depthwise convolution, x [B, H, W, C], dy [B, Ho, Wo, C·M]:
 *   df[ky, kx, c, m] = Σ_{b, oy, ox} x[b, oy·s + ky·d − top, ox·s + kx·d − left, c] · dy[b, oy, ox, c·M + m]
 * A direct SIMD loop (simdModule.ts dwFilterGrad): for every output pixel and every tap inside
 * the input, four channels multiply-accumulate at a time into a [kh, kw, C] accumulator. Each
 * image is summed separately and the partial sums added up (shorter float32 sums). For a
 * channel multiplier M > 1, dy is first transposed to [.., M, C] so that each m is a
 * channel-contiguous slice.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelScope, heapF32, ptr, type Info } from '../kernelSupport.ts';
import { simdKernels } from '../simdModule.ts';
import { ArgumentError } from '../../../errors.ts';

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
    throw new ArgumentError('wasm DepthwiseConv2dNativeBackpropFilter', 'x, dy', `must be float32, got ${x.dtype} and ${dy.dtype}`);
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
  const taps = kh * kw;

  const s = new KernelScope(backend);
  try {
    const simd = simdKernels(backend);
    let dym: Info = dy; // [B, Ho, Wo, M, C] when M > 1
    if (mult > 1) {
      dym = s.output([b, ho, wo, mult, c]);
      const p = b * ho * wo;
      simd.transpose(ptr(backend, dy), ptr(backend, dym), p, c, mult, cm * 4, mult * 4, cm * 4, c * 4);
    }
    const acc = s.zeros([mult, taps, c]);
    const part = s.output([taps, c]);
    for (let m = 0; m < mult; m++) {
      for (let n = 0; n < b; n++) {
        heapF32(backend, part).fill(0);
        simd.dwFilterGrad(
          ptr(backend, x) + n * h * w * c * 4,
          ptr(backend, dym) + (n * ho * wo * cm + (mult > 1 ? m * c : 0)) * 4,
          ptr(backend, part),
          h, w, c, ho, wo, kh, kw, sh, sw, dh, dw, top, left,
          cm * 4,
        );
        simd.addInto(ptr(backend, acc) + m * taps * c * 4, ptr(backend, part), taps * c);
      }
    }
    if (mult === 1) return keepReshaped(s, acc, [kh, kw, c, 1]);
    // df[t, c, m] = acc[m, t, c]
    const df = s.output([kh, kw, c, mult]);
    simd.transpose(ptr(backend, acc), ptr(backend, df), 1, mult, taps * c, 0, taps * c * 4, 0, mult * 4);
    return s.keep(df);
  } finally {
    s.dispose();
  }
}

function keepReshaped(s: KernelScope, t: Info, shape: number[]): Info {
  s.keep(t);
  return { ...t, shape };
}

export const depthwiseConv2dNativeBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as tf.KernelFunc,
};
