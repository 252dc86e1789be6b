/**
 * Identity on the wasm backend without a copy: the output shares the input's data and bumps its
 * reference count, as the cpu backend and the wasm Reshape kernel do. Safe because tfjs tensors
 * are immutable (Variable.assign swaps the data id, it never writes in place).
 *
 * Why it matters: the engine clones (Identity) every tensor a gradient saves for the backward
 * pass; the stock wasm Identity copies it, several MB per conv/batch-norm activation per step.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { input } from '../wasmHeap.ts';

export function zeroCopyIdentityConfig(previous?: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.Identity,
    backendName: 'wasm',
    setupFunc: previous?.setupFunc,
    kernelFunc: (args) => {
      const x = input(args.inputs, 'x', 'Identity');
      if (x.dtype === 'string') {
        if (previous === undefined) throw new Error('Identity: string tensors need the stock wasm kernel');
        return previous.kernelFunc(args);
      }
      (args.backend as BackendWasm).incRef(x.dataId);
      return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
    },
  };
}
