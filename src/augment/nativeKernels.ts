/**
 * Which implementation the augmentation kernels use: the native addon's (native/src/augment.cc,
 * bit-identical to the TypeScript ones, several times faster) when it is built, else the
 * TypeScript. `setNativeAugment(false)` forces the TypeScript kernels in this thread (tests and
 * benchmarks compare the two); `CONTRASTREAM_NATIVE=0` does so everywhere.
 */
import { loadNativeAugment, type NativeAugmentKernels } from '../backend/native/loadNativeAugment.ts';

let enabled = true;

/** The native kernels, or null when absent or disabled. */
export function augmentKernels(): NativeAugmentKernels | null {
  return enabled ? loadNativeAugment().kernels : null;
}

/** The native kernels when they can decode JPEGs (libjpeg-turbo found), else null. */
export function nativeJpegDecoder(): NativeAugmentKernels | null {
  if (!enabled) return null;
  const r = loadNativeAugment();
  return r.jpeg ? r.kernels : null;
}

/** Enables or disables the native kernels in this thread; returns the previous setting. */
export function setNativeAugment(on: boolean): boolean {
  const prev = enabled;
  enabled = on;
  return prev;
}

/** What the augmentation kernels run on, for logs and benchmarks. */
export function nativeAugmentStatus(): string {
  const r = loadNativeAugment();
  if (!enabled) return 'TypeScript (native disabled)';
  if (!r.kernels) return `TypeScript (${r.reason})`;
  return `native${r.jpeg ? ' + libjpeg-turbo decode' : ` (JPEG: TypeScript decoder; ${r.jpegDetail})`}`;
}
