/**
 * The augmentation kernels of contrastream's optional native addon (native/src/augment.cc):
 * antialiased resampling, colour adjustments, normalisation, flips, and JPEG decoding through
 * the system's libjpeg-turbo. Each kernel gives bit-identical results to its TypeScript
 * counterpart in src/augment/ (JPEG decoding aside: libjpeg-turbo's decode is PIL's).
 *
 * Loaded lazily, once per thread (augmentation runs in worker threads), without touching the
 * addon's training thread pool. `CONTRASTREAM_NATIVE=0` disables it; without the addon every
 * caller keeps the TypeScript implementations. Never throws.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { NATIVE_ADDON_PATH } from './loadNative.ts';

/** Result of `jpegDecode`: pixels (RGB, or 1 channel for greyscale JPEGs), or why not. */
export type NativeJpegResult =
  | { data?: Uint8Array; inScratch?: true; width: number; height: number; channels: 1 | 3; error?: undefined; unsupported?: undefined }
  | { unsupported: string; error?: undefined; data?: undefined; inScratch?: undefined }
  | { error: string; tooLarge?: boolean; unsupported?: undefined; data?: undefined; inScratch?: undefined };

/** The augmentation entry points of the addon. Sizes are checked natively (RangeError). */
export interface NativeAugmentKernels {
  augResample(
    src: Uint8Array, srcStride: number, channels: number,
    x0: number, y0: number, x1: number, y1: number,
    lox: number, loy: number, hix: number, hiy: number,
    outW: number, outH: number, out: Uint8Array,
  ): void;
  augSaturation(data: Uint8Array, pixels: number, channels: number, factor: number): void;
  /** `shift` is the uint8 hue offset, uint8(hue * 255) mod 256. */
  augHue(data: Uint8Array, pixels: number, channels: number, shift: number): void;
  augGrayscale(data: Uint8Array, pixels: number, channels: number): void;
  augMeanLuma(data: Uint8Array, pixels: number, channels: number): number;
  augApplyLut(data: Uint8Array, length: number, lut: Uint8Array): void;
  /** tables: channels x 256 float32 (ToTensor + Normalize per channel). */
  augNormalize(src: Uint8Array, pixels: number, channels: number, tables: Float32Array, out: Float32Array): void;
  augFlip(data: Uint8Array, width: number, height: number, channels: number): void;
  jpegInfo(): { available: boolean; detail: string };
  /**
   * Decodes into `scratch` when it holds width x height x channels bytes (`inScratch: true`),
   * else into a new array (`data`).
   */
  jpegDecode(bytes: Uint8Array, maxPixels: number, scratch?: Uint8Array): NativeJpegResult;
}

export type LoadNativeAugmentResult =
  | { kernels: NativeAugmentKernels; jpeg: boolean; jpegDetail: string; reason?: undefined }
  | { kernels: null; jpeg: false; reason: string };

let cached: LoadNativeAugmentResult | undefined;

/** Loads the addon's augmentation kernels (once per thread). */
export function loadNativeAugment(env: Record<string, string | undefined> = process.env): LoadNativeAugmentResult {
  if (cached) return cached;
  cached = load(env);
  return cached;
}

function load(env: Record<string, string | undefined>): LoadNativeAugmentResult {
  if (env.CONTRASTREAM_NATIVE === '0') return { kernels: null, jpeg: false, reason: 'native kernels disabled by CONTRASTREAM_NATIVE=0' };
  if (!existsSync(NATIVE_ADDON_PATH)) return { kernels: null, jpeg: false, reason: `native addon not built (${NATIVE_ADDON_PATH} missing)` };
  try {
    const addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as Partial<NativeAugmentKernels>;
    if (typeof addon.augResample !== 'function' || typeof addon.jpegDecode !== 'function') {
      return { kernels: null, jpeg: false, reason: 'native addon predates the augmentation kernels; rebuild it (node scripts/build-native.mjs)' };
    }
    const kernels = addon as NativeAugmentKernels;
    const info = kernels.jpegInfo();
    return { kernels, jpeg: info.available, jpegDetail: info.detail };
  } catch (err) {
    return { kernels: null, jpeg: false, reason: `native addon failed to load: ${err instanceof Error ? err.message : String(err)}` };
  }
}
