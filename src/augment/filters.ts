/**
 * Gaussian blur and normalisation.
 *
 * gaussianBlurU8 follows torchvision F.gaussian_blur (what GaussianBlur does to PIL images):
 *   k_i = exp(-0.5 (x_i / sigma)^2) / sum,  x = linspace(-(K-1)/2, (K-1)/2, K)
 *   separable convolution with reflect padding (K // 2 each side), in float32,
 *   then round half to even and cast to uint8.
 *
 * normalizeToFloat is ToTensor followed by Normalize(mean, std), per channel c:
 *   out = ((v / 255) - mean_c) / std_c       (float32 at each step, as torch does)
 */

import { augmentKernels } from './nativeKernels.ts';

function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

/** The normalised 1-D Gaussian kernel torchvision builds (`_get_gaussian_kernel1d`). */
export function gaussianKernel1d(size: number, sigma: number): Float32Array {
  const half = (size - 1) * 0.5;
  const k = new Float32Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = size === 1 ? 0 : -half + (2 * half * i) / (size - 1);
    const v = Math.fround(Math.exp(-0.5 * (x / sigma) ** 2));
    k[i] = v;
    sum += v;
  }
  for (let i = 0; i < size; i++) k[i] = Math.fround(k[i] / sum);
  return k;
}

function roundHalfEvenClip8(x: number): number {
  let r = Math.round(x);
  if (r - x === 0.5 && (r & 1) === 1) r -= 1;
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

let blurTmp = new Float32Array(0);

/** In-place Gaussian blur of HWC uint8 with kernel (kx along width, ky along height). */
export function gaussianBlurU8(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  kx: number,
  ky: number,
  sigmaX: number,
  sigmaY: number,
): void {
  const wx = gaussianKernel1d(kx, sigmaX);
  const wy = gaussianKernel1d(ky, sigmaY);
  const n = width * height * channels;
  if (blurTmp.length < n) blurTmp = new Float32Array(n);
  const tmp = blurTmp;
  const hx = kx >> 1;
  const hy = ky >> 1;
  const idx = new Int32Array(width + 2 * hx);
  for (let i = 0; i < idx.length; i++) idx[i] = reflect(i - hx, width) * channels;
  // horizontal
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        let a = 0;
        for (let k = 0; k < kx; k++) a += wx[k] * data[row + idx[x + k] + c];
        tmp[row + x * channels + c] = a;
      }
    }
  }
  // vertical
  const rowLen = width * channels;
  const idy = new Int32Array(height + 2 * hy);
  for (let i = 0; i < idy.length; i++) idy[i] = reflect(i - hy, height) * rowLen;
  for (let y = 0; y < height; y++) {
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let a = 0;
      for (let k = 0; k < ky; k++) a += wy[k] * tmp[idy[y + k] + i];
      data[o + i] = roundHalfEvenClip8(a);
    }
  }
}

/** Per-channel float32 lookup tables for ToTensor + Normalize. */
export function normalizeTables(mean: readonly number[], std: readonly number[], channels: number): Float32Array[] {
  const tables: Float32Array[] = [];
  for (let c = 0; c < channels; c++) {
    const m = Math.fround(mean.length === channels ? mean[c] : mean.length === 1 ? mean[0] : average(mean));
    const s = Math.fround(std.length === channels ? std[c] : std.length === 1 ? std[0] : average(std));
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    tables.push(t);
  }
  return tables;
}

function average(a: readonly number[]): number {
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

/** ToTensor + Normalize on HWC uint8 into HWC float32. */
const packedTables = new WeakMap<Float32Array[], Float32Array>();

export function normalizeToFloat(src: Uint8Array, pixels: number, channels: number, tables: Float32Array[], out: Float32Array): void {
  const native = augmentKernels();
  if (native && tables.length === channels) {
    let packed = packedTables.get(tables);
    if (!packed) {
      packed = new Float32Array(channels * 256);
      tables.forEach((t, c) => packed!.set(t.subarray(0, 256), c * 256));
      packedTables.set(tables, packed);
    }
    native.augNormalize(src, pixels, channels, packed, out);
    return;
  }
  if (channels === 3) {
    const t0 = tables[0];
    const t1 = tables[1];
    const t2 = tables[2];
    for (let i = 0, o = 0; i < pixels; i++, o += 3) {
      out[o] = t0[src[o]];
      out[o + 1] = t1[src[o + 1]];
      out[o + 2] = t2[src[o + 2]];
    }
  } else if (channels === 1) {
    const t0 = tables[0];
    for (let i = 0; i < pixels; i++) out[i] = t0[src[i]];
  } else {
    for (let i = 0, o = 0; i < pixels; i++) for (let c = 0; c < channels; c++, o++) out[o] = tables[c][src[o]];
  }
}

/** (x - mean) / std on float data already in [0, 1]-scale units (used after the Lab split). */
export function normalizeFloatInPlace(data: Float32Array, pixels: number, channels: number, mean: readonly number[], std: readonly number[]): void {
  for (let i = 0, o = 0; i < pixels; i++) {
    for (let c = 0; c < channels; c++, o++) data[o] = Math.fround(Math.fround(data[o] - mean[c]) / std[c]);
  }
}
