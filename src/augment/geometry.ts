/**
 * Geometric transforms: RandomResizedCrop's box sampling (torchvision semantics), center
 * crop boxes, horizontal flip, the CPC patch grid.
 */
import type { Rng } from '../internal/prng.ts';
import { augmentKernels } from './nativeKernels.ts';

/** A crop box in source pixels: top-left (x, y), width w, height h. */
export interface CropBox {
  x: number;
  y: number;
  w: number;
  h: number;
  /** True when the 10 random attempts failed and torchvision's central fallback was used. */
  fallback: boolean;
}

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision `RandomResizedCrop.get_params(img, scale, ratio)`:
 *
 *   up to 10 times: area' = H*W * U(scale), r = exp(U(log ratio)),
 *                   w = round(sqrt(area' * r)), h = round(sqrt(area' / r));
 *                   if 0 < w <= W and 0 < h <= H: y = randint(0, H-h+1), x = randint(0, W-w+1)
 *   else a central crop: the whole image, clamped to the ratio range (at least 1 x 1).
 *
 * Draws from `rng` in that order, so a given stream always gives the same box.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): CropBox {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(0, height - h + 1);
      const x = rng.int(0, width - w + 1);
      return { x, y, w, h, fallback: false };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  // torchvision would return an empty crop for tiny images with extreme ratios; keep >= 1 px
  w = Math.max(1, w);
  h = Math.max(1, h);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h, fallback: true };
}

/** torchvision F.center_crop box (crop_top = round((H - h) / 2)); sizes clamp to the image. */
export function centerCropBox(width: number, height: number, outW: number, outH: number): CropBox {
  const w = Math.min(outW, width);
  const h = Math.min(outH, height);
  return { x: Math.round((width - w) / 2), y: Math.round((height - h) / 2), w, h, fallback: false };
}

/** Mirrors an HWC image left-right in place. Works for any typed array and channel count. */
export function flipHorizontal(data: Uint8Array | Float32Array, width: number, height: number, channels: number): void {
  const native = data instanceof Uint8Array ? augmentKernels() : null;
  if (native) {
    native.augFlip(data as Uint8Array, width, height, channels);
    return;
  }
  const row = width * channels;
  for (let y = 0; y < height; y++) {
    let l = y * row;
    let r = l + row - channels;
    while (l < r) {
      for (let c = 0; c < channels; c++) {
        const t = data[l + c];
        data[l + c] = data[r + c];
        data[r + c] = t;
      }
      l += channels;
      r -= channels;
    }
  }
}

/**
 * CPC patch grid: a `grid x grid` array of `patch x patch` crops at `stride`, centred in the
 * image (CPC v1 on ImageNet: 256 px image, 7 x 7 patches of 64 px, stride 32, 50% overlap).
 * Output is [grid*grid, patch, patch, C] row-major (patches in raster order).
 */
export function extractPatchGrid<T extends Uint8Array | Float32Array>(
  data: T,
  width: number,
  height: number,
  channels: number,
  grid: number,
  patch: number,
  stride: number,
  out: T,
): void {
  const span = (grid - 1) * stride + patch;
  const ox = Math.floor((width - span) / 2);
  const oy = Math.floor((height - span) / 2);
  const prow = patch * channels;
  let o = 0;
  for (let gy = 0; gy < grid; gy++) {
    for (let gx = 0; gx < grid; gx++) {
      for (let y = 0; y < patch; y++) {
        const s = ((oy + gy * stride + y) * width + ox + gx * stride) * channels;
        out.set(data.subarray(s, s + prow) as never, o);
        o += prow;
      }
    }
  }
}
