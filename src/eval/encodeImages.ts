/**
 * Runs a feature function over an ImageSet in batches: uint8 [N, S, S, C] -> float [N, D]
 * (images scaled to [0, 1] before `features`). Returns a tensor the caller disposes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageSet } from './collectImages.ts';

export function encodeImages(
  set: ImageSet,
  features: (images: tf.Tensor4D) => tf.Tensor2D, // [b, S, S, C] in [0, 1] -> [b, D]
  batchSize = 256,
): tf.Tensor2D {
  const per = set.size * set.size * set.channels;
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < set.count; start += batchSize) {
      const n = Math.min(batchSize, set.count - start);
      parts.push(
        tf.tidy(() => {
          const u8 = set.images.subarray(start * per, (start + n) * per);
          const x = tf.div(tf.tensor4d(Float32Array.from(u8), [n, set.size, set.size, set.channels]), 255) as tf.Tensor4D;
          return features(x);
        }),
      );
    }
    return tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

/** Raw-pixel features, the baseline every method must beat: images flattened to [N, S*S*C]. */
export function rawPixelFeatures(images: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(images, [images.shape[0], -1]) as tf.Tensor2D);
}
