/**
 * The 15 geometry numbers the native convolution kernels take, from tfjs' Conv2DInfo:
 * B, H, W, Ci, Ho, Wo, Co, kh, kw, sh, sw, dh, dw, padTop, padLeft.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from '../../../errors.ts';

export function convGeometry(info: tf.backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth,
    info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left,
  ];
}

/** Throws unless `format` is NHWC (the only layout the native kernels implement). */
export function checkNHWC(kernel: string, format: string | undefined): void {
  if (format !== undefined && format !== 'NHWC' && format !== 'channelsLast') {
    throw new ArgumentError(kernel, 'dataFormat', `'${format}' is not supported by the native kernels; use 'NHWC'`);
  }
}
