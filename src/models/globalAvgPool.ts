/** Global average pooling: [N, H, W, C] → [N, C], y_nc = mean_{h,w} x_nhwc. No parameters. */
import * as tf from '@tensorflow/tfjs-core';
import { Module, checkInput, type ForwardOptions } from './module.ts';

export class GlobalAvgPool extends Module {
  forward(x: tf.Tensor, _options?: ForwardOptions): tf.Tensor2D {
    checkInput('GlobalAvgPool.forward', x, 4);
    return tf.mean(x, [1, 2]);
  }
}
