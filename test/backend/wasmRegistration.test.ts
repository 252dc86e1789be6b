/**
 * registerWasmTrainingKernels (which kernels are active, the native hook, idempotence) and the
 * memory behaviour of contrastream's wasm kernels: tensors, backend data ids and the wasm heap
 * (where a leaked XNNPACK operator would show) stay flat over repeated gradient calls.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels, type NativeWasmKernelsFactory } from '../../src/backend/wasm/registerWasmTrainingKernels.ts';
import { PURE_WASM_KERNELS } from '../../src/backend/wasm/pureWasmKernels.ts';
import { liveViewCount } from '../../src/backend/wasm/kernelSupport.ts';
import { batchNormTraining } from '../../src/ops/batchNormTraining.ts';

const NAMES = PURE_WASM_KERNELS.map((k) => k.kernelName);
const stock = new Map(NAMES.concat(['Relu']).map((n) => [n, tf.getKernel(n, 'wasm')]));
const kernelFunc = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc;
const ours = (name: string) => PURE_WASM_KERNELS.find((k) => k.kernelName === name)!.kernelFunc;

beforeAll(async () => {
  registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
  await tf.setBackend('wasm');
});

afterAll(() => {
  registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
});

describe('registerWasmTrainingKernels', () => {
  it('registers the pure-wasm set over the stock kernels and says so', () => {
    const info = registerWasmTrainingKernels({ threads: 2, native: false, nativeFactory: null });
    expect(info).toEqual({ detail: 'wasm kernels: pure wasm (1 thread)', threads: 1, kernels: [...NAMES].sort(), native: false });
    for (const name of NAMES) expect(kernelFunc(name), name).toBe(ours(name));
    // The stock backend had these; ours replace them.
    for (const name of ['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad']) {
      expect(stock.get(name), name).toBeDefined();
      expect(kernelFunc(name)).not.toBe(stock.get(name)!.kernelFunc);
    }
    // These did not exist on wasm.
    for (const name of ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum']) {
      expect(stock.get(name), name).toBeUndefined();
    }
  });

  it('is idempotent', () => {
    const a = registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
    const funcs = NAMES.map(kernelFunc);
    const b = registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
    expect(b).toEqual(a);
    expect(NAMES.map(kernelFunc)).toEqual(funcs);
  });

  it('rejects a bad thread count', () => {
    expect(() => registerWasmTrainingKernels({ threads: 0, nativeFactory: null })).toThrow(/threads/);
  });

  describe('native hook', () => {
    const fakeConvFilter: tf.KernelFunc = () => {
      throw new Error('fake native kernel');
    };
    const fakeRelu: tf.KernelFunc = () => {
      throw new Error('fake native relu');
    };
    let calls: { threads: number }[] = [];
    const factory: NativeWasmKernelsFactory = (config) => {
      calls.push({ threads: config.threads });
      return {
        kernels: [
          { kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: fakeConvFilter },
          { kernelName: 'Relu', backendName: 'wasm', kernelFunc: fakeRelu },
        ],
        detail: 'native kernels fake (Conv2DBackpropFilter, Relu)',
        threads: config.threads,
      };
    };

    it('registers the native kernels over ours, with their detail and threads', () => {
      calls = [];
      const info = registerWasmTrainingKernels({ threads: 3, nativeFactory: factory, env: {} });
      expect(calls).toEqual([{ threads: 3 }]);
      expect(info.native).toBe(true);
      expect(info.detail).toBe('native kernels fake (Conv2DBackpropFilter, Relu)');
      expect(info.threads).toBe(3);
      expect(kernelFunc('Conv2DBackpropFilter')).toBe(fakeConvFilter);
      expect(kernelFunc('Relu')).toBe(fakeRelu);
      expect(kernelFunc('Conv2DBackpropInput')).toBe(ours('Conv2DBackpropInput'));
    });

    it('is forced off by native: false and by CONTRASTREAM_NATIVE=0, restoring ours and the stock ones', () => {
      for (const off of [{ native: false, env: {} }, { env: { CONTRASTREAM_NATIVE: '0' } }]) {
        registerWasmTrainingKernels({ threads: 3, nativeFactory: factory, env: {} });
        calls = [];
        const info = registerWasmTrainingKernels({ threads: 3, nativeFactory: factory, ...off });
        expect(calls).toEqual([]);
        expect(info.detail).toBe('wasm kernels: pure wasm (1 thread)');
        expect(kernelFunc('Conv2DBackpropFilter')).toBe(ours('Conv2DBackpropFilter'));
        expect(kernelFunc('Relu')).toBe(stock.get('Relu')!.kernelFunc);
      }
    });

    it('falls back to the pure-wasm set when the factory returns null or throws', () => {
      let info = registerWasmTrainingKernels({ threads: 2, nativeFactory: () => null, env: {} });
      expect(info.detail).toBe('wasm kernels: pure wasm (1 thread)');
      info = registerWasmTrainingKernels({
        threads: 2,
        nativeFactory: () => {
          throw new Error('addon exploded');
        },
        env: {},
      });
      expect(info.native).toBe(false);
      expect(info.detail).toBe('wasm kernels: pure wasm (1 thread; native kernels failed: addon exploded)');
      expect(kernelFunc('Conv2DBackpropFilter')).toBe(ours('Conv2DBackpropFilter'));
    });
  });

  it('keeps the stock kernels it replaced callable (their setup still runs)', async () => {
    registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
    await tf.setBackend('wasm');
    // batch 1, no transposes: our BatchMatMul hands it to the stock XNNPACK path.
    const out = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2, 3]]), tf.tensor2d([[1], [2], [3]])).dataSync()[0]);
    expect(out).toBe(14);
  });
});

describe('memory', () => {
  const backend = () => tf.backend() as BackendWasm;
  const heapBytes = () => (backend().wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer.byteLength;

  /** Gradients through every contrastream kernel; all tensors freed. */
  function step(): void {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 12, 12, 8]);
      const w1 = tf.randomNormal([3, 3, 8, 16]);
      const w2 = tf.randomNormal([3, 3, 16, 16]);
      const dw = tf.randomNormal([3, 3, 16, 2]);
      const g = tf.ones([32]);
      const b = tf.zeros([32]);
      const fc = tf.randomNormal([32, 4096]); // large enough that a leaked XNNPACK operator shows in the heap
      const emb = tf.randomNormal([20, 4096]);
      const f = (xt: tf.Tensor, a: tf.Tensor, c: tf.Tensor, d: tf.Tensor, gm: tf.Tensor, bt: tf.Tensor, fw: tf.Tensor, e: tf.Tensor) => {
        let h = tf.conv2d(xt as tf.Tensor4D, a as tf.Tensor4D, 1, 1); // [2, 12, 12, 16]
        h = tf.conv2d(h, c as tf.Tensor4D, 2, 1); // [2, 6, 6, 16]
        h = tf.depthwiseConv2d(h, d as tf.Tensor4D, 1, 'same'); // [2, 6, 6, 32]
        h = batchNormTraining(h, gm as tf.Tensor1D, bt as tf.Tensor1D, { relu: true }).y as tf.Tensor4D;
        h = tf.avgPool(tf.maxPool(h, 2, 2, 'valid'), 2, 1, 'same'); // [2, 3, 3, 32]
        const z = tf.matMul(tf.mean(h, [1, 2]), fw); // [2, 4096]
        const sim = tf.matMul(z, tf.gather(e, tf.tensor1d([1, 5, 7], 'int32')), false, true); // [2, 3]
        return tf.sum(tf.square(sim)) as tf.Scalar;
      };
      const grads = tf.grads(f)([x, w1, w2, dw, g, b, fc, emb]);
      for (const t of grads) t.dataSync();
    });
  }

  it('keeps tensors, data ids and the wasm heap flat over repeated gradient calls', async () => {
    registerWasmTrainingKernels({ threads: 1, native: false, nativeFactory: null });
    await tf.setBackend('wasm');
    for (let i = 0; i < 3; i++) step();
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const ids = backend().numDataIds();
    const heap = heapBytes();
    // 50 steps: a leaked operator on the 512 KB packed Wᵀ of the dense layer would add 25 MB.
    for (let i = 0; i < 50; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
    expect(backend().numDataIds()).toBe(ids);
    expect(heapBytes()).toBe(heap);
    expect(liveViewCount()).toBe(0);
  });

  it('(control) the heap check sees a leaked XNNPACK operator', async () => {
    await tf.setBackend('wasm');
    const be = backend();
    const x = tf.randomNormal([4, 16, 16, 16]);
    const conv = tf.getKernel('Conv2D', 'wasm')!;
    // The operator is cached on the filter's id and freed only by the wasm-side disposeData:
    // free the filter's memory without it, as a kernel forgetting to dispose a filter would.
    const leak = () => {
      const filter = be.makeOutput([16, 16, 16, 16], 'float32');
      const out = conv.kernelFunc({ inputs: { x, filter }, backend: be, attrs: { strides: 1, pad: 'valid', dilations: 1, dataFormat: 'NHWC' } as never }) as tf.TensorInfo;
      be.disposeData(out.dataId);
      const data = be.dataIdMap.get(filter.dataId)!;
      (be.wasm as unknown as { _free(p: number): void })._free(data.memoryOffset);
      be.dataIdMap.delete(filter.dataId);
    };
    for (let i = 0; i < 3; i++) leak();
    const heap = heapBytes();
    for (let i = 0; i < 40; i++) leak();
    expect(heapBytes()).toBeGreaterThan(heap);
    x.dispose();
  });
});
