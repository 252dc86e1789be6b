/**
 * Plumbing shared by contrastream's wasm training kernels (src/backend/wasm/kernels/).
 *
 * A kernel here is composed from other wasm kernels called directly as functions
 * (`getKernel(name, 'wasm').kernelFunc({inputs, backend, attrs})`), never from high-level
 * `tf.*` ops: those would re-enter the engine from inside a kernel (tape, scopes, disposal)
 * and broke a prototype. Every intermediate the kernel makes is freed with
 * `backend.disposeData(dataId)` before it returns, also when it throws: `KernelScope` does
 * that bookkeeping.
 *
 * Facts about @tensorflow/tfjs-backend-wasm 4.22 this relies on (see ../../../../shared/NOTES.md):
 * - Tensor data lives in the wasm heap at `dataIdMap.get(dataId).memoryOffset`; JavaScript can
 *   read and write it through `backend.wasm.HEAPF32` (re-read the view after any allocation:
 *   the heap may grow and detach old views).
 * - `Reshape` only bumps a reference count, so a reshaped TensorInfo must be disposed too.
 * - XNNPACK operators (Conv2D, the batch-1 BatchMatMul path) are cached on the id of the
 *   filter / right-hand tensor and freed when that id is disposed. A tensor passed as a
 *   "filter" must therefore be one this kernel owns and disposes, never a long-lived input,
 *   or its packed copy stays in the cache for as long as the input lives.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm'; // registers the stock kernels captured below
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ContrastreamError } from '../../errors.ts';

/** The parts of a tensor a kernel sees. */
export type Info = tf.TensorInfo;

/** Kernel configs of the stock wasm backend, captured before contrastream replaced any. */
const stockKernels = new Map<string, tf.KernelConfig>();

/** Stock kernels our kernels call as such; captured when this module loads, before any replacement. */
for (const name of [tf.BatchMatMul, tf.Identity, tf.Sum, tf.Conv2DBackpropInput, tf.MaxPoolGrad, tf.AvgPoolGrad]) {
  const k = tf.getKernel(name, 'wasm');
  if (k !== undefined) stockKernels.set(name, k);
}

/** Remembers the stock kernel `name` (first capture wins: later ones may be ours). */
export function rememberStockKernel(name: string, config: tf.KernelConfig): void {
  if (!stockKernels.has(name)) stockKernels.set(name, config);
}

/** The stock wasm kernel `name`, as registered by @tensorflow/tfjs-backend-wasm. */
export function stockKernel(name: string): tf.KernelConfig | undefined {
  return stockKernels.get(name) ?? tf.getKernel(name, 'wasm');
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs?: tf.NamedAttrMap };

function invoke(config: tf.KernelConfig | undefined, name: string, args: KernelArgs): Info {
  if (config === undefined) {
    throw new ContrastreamError(`contrastream wasm kernels: kernel '${name}' is not registered for the wasm backend; import @tensorflow/tfjs-backend-wasm first`);
  }
  const out = config.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
  if (Array.isArray(out)) {
    throw new ContrastreamError(`contrastream wasm kernels: kernel '${name}' returned ${out.length} outputs, expected 1`);
  }
  return out as Info;
}

/** The emscripten heap views of the tfjs wasm module (re-read them after any allocation). */
interface WasmHeaps {
  HEAPU8: Uint8Array;
  HEAP32: Int32Array;
  HEAPF32: Float32Array;
}

/** The heap views of `backend`'s wasm module. */
export function heaps(backend: BackendWasm): WasmHeaps {
  return backend.wasm as unknown as WasmHeaps;
}

/** Bytes offset of a tensor's data in the wasm heap. */
export function heapOffset(backend: BackendWasm, info: Info): number {
  return backend.dataIdMap.get(info.dataId)!.memoryOffset;
}

/** Byte address of a tensor's data in the wasm heap (for the SIMD helper kernels). */
export const ptr = heapOffset;

/** A Float32Array over a tensor's data in the wasm heap (valid until the next allocation). */
export function heapF32(backend: BackendWasm, info: Info): Float32Array {
  const size = tf.util.sizeFromShape(info.shape);
  return new Float32Array(heaps(backend).HEAPF32.buffer, heapOffset(backend, info), size);
}

/** An Int32Array over a tensor's data in the wasm heap (valid until the next allocation). */
export function heapI32(backend: BackendWasm, info: Info): Int32Array {
  const size = tf.util.sizeFromShape(info.shape);
  return new Int32Array(heaps(backend).HEAP32.buffer, heapOffset(backend, info), size);
}

/** Same data, another shape; no copy and no reference taken (an input-only alias). */
export function alias(info: Info, shape: number[]): Info {
  if (tf.util.sizeFromShape(shape) !== tf.util.sizeFromShape(info.shape)) {
    throw new ContrastreamError(`contrastream wasm kernels: cannot view [${info.shape}] as [${shape}] (sizes differ)`);
  }
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

let liveViews = 0;

/** Views registered by KernelScope.view and not yet unregistered (0 between kernel calls). */
export function liveViewCount(): number {
  return liveViews;
}

/**
 * Tracks the intermediates of one kernel call and frees them in `dispose()` (call it in a
 * `finally`). Results of `run`, `stock`, `output` and `view` are intermediates unless passed
 * to `keep`, which hands them to the caller (the engine) instead.
 */
export class KernelScope {
  private temps: Info[] = [];
  private views: { dataId: object; id: number }[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Runs the kernel currently registered as `name` for wasm (possibly a contrastream one). */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: object = {}): Info {
    return this.track(invoke(tf.getKernel(name, 'wasm'), name, { inputs, backend: this.backend, attrs: attrs as tf.NamedAttrMap }));
  }

  /** Runs the stock @tensorflow/tfjs-backend-wasm kernel `name`, even where contrastream replaced it. */
  stock(name: string, inputs: tf.NamedTensorInfoMap, attrs: object = {}): Info {
    return this.track(invoke(stockKernel(name), name, { inputs, backend: this.backend, attrs: attrs as tf.NamedAttrMap }));
  }

  /** Allocates an uninitialised tensor in the wasm heap. */
  output(shape: number[], dtype: tf.DataType = 'float32'): Info {
    return this.track(this.backend.makeOutput(shape, dtype));
  }

  /** Allocates a tensor filled with zeros. */
  zeros(shape: number[], dtype: tf.DataType = 'float32'): Info {
    const out = this.output(shape, dtype);
    const bytes = tf.util.sizeFromShape(shape) * tf.util.bytesPerElement(dtype);
    const off = heapOffset(this.backend, out);
    heaps(this.backend).HEAPU8.fill(0, off, off + bytes);
    return out;
  }

  /** Allocates a float32 tensor holding `values`. */
  fromValues(shape: number[], values: Float32Array): Info {
    const out = this.output(shape, 'float32');
    heapF32(this.backend, out).set(values);
    return out;
  }

  /**
   * A tensor over `size(shape)` float32 values of `base` starting at element `offset`, without
   * a copy: it gets its own tensor id (so XNNPACK caches on it separately) and is unregistered,
   * never freed, by `dispose()`. `base` must outlive this scope.
   */
  view(base: Info, offset: number, shape: number[]): Info {
    const size = tf.util.sizeFromShape(shape);
    const baseSize = tf.util.sizeFromShape(base.shape);
    if (offset < 0 || offset + size > baseSize) {
      throw new ContrastreamError(`contrastream wasm kernels: view [${offset}, ${offset + size}) outside a tensor of ${baseSize} values`);
    }
    const be = this.backend as unknown as {
      dataIdMap: { set(k: object, v: object): void };
      dataIdNextNumber: number;
      wasm: { tfjs: { registerTensor(id: number, size: number, offset: number): void } };
    };
    const id = be.dataIdNextNumber++;
    const dataId = { id };
    const memoryOffset = heapOffset(this.backend, base) + offset * tf.util.bytesPerElement(base.dtype);
    be.dataIdMap.set(dataId, { id, memoryOffset, shape, dtype: base.dtype, refCount: 1 });
    be.wasm.tfjs.registerTensor(id, size, memoryOffset);
    this.views.push({ dataId, id });
    liveViews++;
    return { dataId, shape, dtype: base.dtype };
  }

  /** Unregisters a view now (frees the XNNPACK operators cached on it, not the data). */
  freeView(info: Info): void {
    const i = this.views.findIndex((v) => v.dataId === info.dataId);
    if (i < 0) throw new ContrastreamError('contrastream wasm kernels: freeView() of a tensor that is not a view of this scope');
    const [v] = this.views.splice(i, 1);
    this.unregisterView(v);
  }

  private unregisterView(v: { dataId: object; id: number }): void {
    const be = this.backend as unknown as {
      dataIdMap: { delete(k: object): void };
      wasm: { tfjs: { disposeData(id: number): void } };
    };
    // disposeData in the wasm module runs the XNNPACK cache callbacks for this id; the
    // memory belongs to the base tensor, so no _free here.
    be.wasm.tfjs.disposeData(v.id);
    be.dataIdMap.delete(v.dataId);
    liveViews--;
  }

  /** Hands `info` to the caller: it will not be freed by `dispose()`. */
  keep<T extends Info>(info: T): T {
    const i = this.temps.indexOf(info);
    if (i >= 0) this.temps.splice(i, 1);
    return info;
  }

  /** Frees `info` now (it must be an intermediate of this scope). */
  free(info: Info): void {
    const i = this.temps.indexOf(info);
    if (i < 0) throw new ContrastreamError('contrastream wasm kernels: free() of a tensor this scope does not own');
    this.temps.splice(i, 1);
    this.backend.disposeData(info.dataId);
  }

  /** Frees every intermediate still held (views first: they may point into temps). */
  dispose(): void {
    for (const v of this.views) this.unregisterView(v);
    this.views = [];
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps = [];
  }

  private track(info: Info): Info {
    this.temps.push(info);
    return info;
  }
}

/** Runs `body` with a fresh KernelScope and always disposes it. */
export function withScope<T>(backend: BackendWasm, body: (s: KernelScope) => T): T {
  const s = new KernelScope(backend);
  try {
    return body(s);
  } finally {
    s.dispose();
  }
}
