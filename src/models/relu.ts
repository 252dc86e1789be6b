/** Rectified linear unit, y = max(x, 0). No parameters. */
import * as tf from '@tensorflow/tfjs-core';
import { Module, type ForwardOptions } from './module.ts';

export class ReLU extends Module {
  forward(x: tf.Tensor, _options?: ForwardOptions): tf.Tensor {
    return tf.relu(x);
  }
}
