/**
 * Identity for the wasm backend without a copy: the output shares the input's data and takes a
 * reference to it (the backend frees the data when the last reference goes), exactly as the
 * stock Reshape does. Tensors are immutable, so sharing is invisible to users; it removes the
 * full copy the engine makes of every tensor a gradient saves (tf.clone), ~280 copies of
 * activations per training step of the 6-conv benchmark CNN.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { stockKernel, type Info } from '../kernelSupport.ts';

export function identity(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs?: tf.NamedAttrMap }): Info {
  const x = args.inputs.x as Info;
  if (x.dtype === 'string') {
    // String tensors keep their bytes on the JS side; the stock kernel copies those.
    return stockKernel(tf.Identity)!.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
  }
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

export const identityConfig: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity as unknown as tf.KernelFunc,
};
