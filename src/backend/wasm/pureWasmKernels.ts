/**
 * The pure-wasm training kernels contrastream registers on the wasm backend (the portable
 * fallback; the native addon's kernels override them where it builds), and the gradient
 * functions of contrastream's own kernels.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { batchNormTrainConfig } from './kernels/batchNormTrain.ts';
import { batchNormTrainGradConfig, batchNormTrainGradientConfig } from './kernels/batchNormTrainGrad.ts';
import { batchMatMulConfig } from './kernels/batchMatMul.ts';
import { conv2DBackpropFilterConfig } from './kernels/conv2DBackpropFilter.ts';
import { conv2DBackpropInputConfig } from './kernels/conv2DBackpropInput.ts';
import { depthwiseConv2dNativeBackpropFilterConfig } from './kernels/depthwiseConv2dNativeBackpropFilter.ts';
import { depthwiseConv2dNativeBackpropInputConfig } from './kernels/depthwiseConv2dNativeBackpropInput.ts';
import { maxPoolGradConfig } from './kernels/maxPoolGrad.ts';
import { avgPoolGradConfig } from './kernels/avgPoolGrad.ts';
import { identityConfig } from './kernels/identity.ts';
import { unsortedSegmentSumConfig } from './kernels/unsortedSegmentSum.ts';

export const PURE_WASM_KERNELS: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  batchNormTrainConfig,
  batchNormTrainGradConfig,
  batchMatMulConfig,
  depthwiseConv2dNativeBackpropFilterConfig,
  depthwiseConv2dNativeBackpropInputConfig,
  unsortedSegmentSumConfig,
  maxPoolGradConfig,
  avgPoolGradConfig,
  identityConfig,
];

/** Gradients of kernels that exist only in contrastream (registered if not already present). */
export const CONTRASTREAM_GRADIENTS: readonly tf.GradConfig[] = [batchNormTrainGradientConfig];
