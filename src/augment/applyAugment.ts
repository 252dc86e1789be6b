/**
 * Runs an AugmentSpec on one decoded image. Pure and synchronous: the same image, spec,
 * seed, epoch and index always give bit-identical outputs, whichever thread runs it.
 *
 * View v of sample i in epoch e draws all its randomness from Rng(seed, e, i, v), in the
 * order torchvision's transforms draw theirs.
 */
import { Rng } from '../internal/prng.ts';
import type { ViewArray } from '../data.ts';
import type { AugmentSpec, Transform } from './spec.ts';
import type { SourceImage } from './sourceImage.ts';
import { resizeRegion } from './sourceImage.ts';
import { randomResizedCropBox, centerCropBox, flipHorizontal, extractPatchGrid, type CropBox } from './geometry.ts';
import { adjustBrightness, adjustContrast, adjustSaturation, adjustHue, toGrayscale, solarize } from './color.ts';
import { gaussianBlurU8, normalizeTables, normalizeToFloat, normalizeFloatInPlace } from './filters.ts';
import { rgbToLab, CMC_LAB_MEAN, CMC_LAB_STD } from './lab.ts';

export interface AugmentKey {
  seed: number;
  epoch: number;
  index: number;
}

/**
 * Allocates an output array of `length` elements (what applyAugment returns). The default
 * makes a new typed array; augmentInPool's workers place outputs straight into the chunk's
 * result buffer instead (no per-view allocation, no copy). Every array it returns must be
 * fully writable until the next call.
 */
export type OutputAlloc = (kind: 'f32' | 'u8', length: number) => Float32Array | Uint8Array;

const newOutput: OutputAlloc = (kind, length) => (kind === 'f32' ? new Float32Array(length) : new Uint8Array(length));

interface State {
  alloc: OutputAlloc;
  src: SourceImage | null; // not materialised yet
  w: number;
  h: number;
  c: number;
  u8: Uint8Array | null;
  f32: Float32Array | null;
  outputs: ViewArray[];
}

// Normalisation tables per transform object and channel count (specs are reused for every
// sample; a structured-cloned spec in a worker is one object per task).
const tableCache = new WeakMap<object, Float32Array[][]>();

function tablesFor(t: { mean: readonly number[]; std: readonly number[] }, channels: number): Float32Array[] {
  let byC = tableCache.get(t);
  if (!byC) {
    byC = [];
    tableCache.set(t, byC);
  }
  return (byC[channels] ??= normalizeTables(t.mean, t.std, channels));
}

const order = new Int32Array(4);

/** The uint8 pixels of the state, copying the source image (it is shared by all views). */
function materialize(s: State): Uint8Array {
  if (s.src) {
    s.u8 = s.src.pixels().slice(0, s.w * s.h * s.c);
    s.src = null;
  }
  return s.u8!;
}

// Two per-thread buffers for resized views (alternating, so that a resize can read the
// previous one); a view that ends as uint8 in one of them is copied out (see applyAugment).
// Saves an allocation per view: typed arrays live outside the JS heap and their churn drives
// full garbage collections.
const resizeScratch: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];

function isScratch(a: Uint8Array | null): boolean {
  return a !== null && (a.buffer === resizeScratch[0].buffer || a.buffer === resizeScratch[1].buffer);
}

function resizeTo(s: State, box: CropBox, outW: number, outH: number): void {
  const need = outW * outH * s.c;
  const k = s.u8 !== null && s.u8.buffer === resizeScratch[0].buffer ? 1 : 0;
  if (resizeScratch[k].length < need) resizeScratch[k] = new Uint8Array(Math.max(need, 96 * 96 * 3));
  const out = resizeScratch[k].subarray(0, need);
  if (s.src) {
    s.src.resizedCrop(box, outW, outH, out);
    s.src = null;
  } else {
    resizeRegion(s.u8!, s.w, s.c, box, outW, outH, out);
  }
  s.u8 = out;
  s.w = outW;
  s.h = outH;
}

function apply(t: Transform, s: State, rng: Rng): void {
  switch (t.kind) {
    case 'randomResizedCrop': {
      const box = randomResizedCropBox(s.w, s.h, t.scale, t.ratio, rng);
      resizeTo(s, box, t.size[1], t.size[0]);
      return;
    }
    case 'resize': {
      let outW: number;
      let outH: number;
      if (typeof t.size === 'number') {
        // torchvision: smaller edge -> size, long edge int(size * long / short)
        if (s.w <= s.h) {
          outW = t.size;
          outH = Math.trunc((t.size * s.h) / s.w);
        } else {
          outH = t.size;
          outW = Math.trunc((t.size * s.w) / s.h);
        }
      } else {
        outH = t.size[0];
        outW = t.size[1];
      }
      if (outW === s.w && outH === s.h) return;
      resizeTo(s, { x: 0, y: 0, w: s.w, h: s.h, fallback: false }, outW, outH);
      return;
    }
    case 'centerCrop': {
      const [oh, ow] = t.size;
      if (ow > s.w || oh > s.h) throw new RangeError(`centerCrop to ${oh}x${ow} needs an image at least that large, got ${s.h}x${s.w}; add resize() before it`);
      const box = centerCropBox(s.w, s.h, ow, oh);
      if (box.w === s.w && box.h === s.h) return;
      resizeTo(s, box, box.w, box.h);
      return;
    }
    case 'randomHorizontalFlip': {
      if (rng.next() < t.p) {
        if (s.f32) flipHorizontal(s.f32, s.w, s.h, s.c);
        else flipHorizontal(materialize(s), s.w, s.h, s.c);
      }
      return;
    }
    case 'randomApply': {
      // torchvision: `if self.p < torch.rand(1): return img`
      if (t.p < rng.next()) return;
      for (const inner of t.transforms) apply(inner, s, rng);
      return;
    }
    case 'colorJitter': {
      // torch.randperm(4): Fisher-Yates with the same draws as Rng.permutation, no allocation
      for (let i = 0; i < 4; i++) order[i] = i;
      for (let i = 3; i > 0; i--) {
        const j = rng.int(0, i + 1);
        const tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
      }
      const b = t.brightness ? rng.uniform(t.brightness[0], t.brightness[1]) : -1;
      const c = t.contrast ? rng.uniform(t.contrast[0], t.contrast[1]) : -1;
      const sat = t.saturation ? rng.uniform(t.saturation[0], t.saturation[1]) : -1;
      const hue = t.hue ? rng.uniform(t.hue[0], t.hue[1]) : NaN;
      const px = materialize(s);
      const n = s.w * s.h;
      for (let k = 0; k < 4; k++) {
        switch (order[k]) {
          case 0:
            if (b >= 0) adjustBrightness(px, n * s.c, b);
            break;
          case 1:
            if (c >= 0) adjustContrast(px, n, s.c, c);
            break;
          case 2:
            if (sat >= 0) adjustSaturation(px, n, s.c, sat);
            break;
          default:
            if (!Number.isNaN(hue)) adjustHue(px, n, s.c, hue);
        }
      }
      return;
    }
    case 'randomGrayscale': {
      if (rng.next() < t.p) toGrayscale(materialize(s), s.w * s.h, s.c);
      return;
    }
    case 'gaussianBlur': {
      const sigma = rng.uniform(t.sigma[0], t.sigma[1]);
      gaussianBlurU8(materialize(s), s.w, s.h, s.c, t.kernelSize[0], t.kernelSize[1], sigma, sigma);
      return;
    }
    case 'randomSolarize': {
      if (rng.next() < t.p) solarize(materialize(s), s.w * s.h * s.c, t.threshold);
      return;
    }
    case 'normalize': {
      const px = materialize(s);
      const out = s.alloc('f32', s.w * s.h * s.c) as Float32Array;
      normalizeToFloat(px, s.w * s.h, s.c, tablesFor(t, s.c), out);
      s.f32 = out;
      s.u8 = null;
      return;
    }
    case 'splitLab': {
      const px = materialize(s);
      const n = s.w * s.h;
      const L = new Float32Array(n);
      const ab = new Float32Array(n * 2);
      rgbToLab(px, n, s.c, L, ab);
      if (t.normalize) {
        normalizeFloatInPlace(L, n, 1, [CMC_LAB_MEAN[0]], [CMC_LAB_STD[0]]);
        normalizeFloatInPlace(ab, n, 2, [CMC_LAB_MEAN[1], CMC_LAB_MEAN[2]], [CMC_LAB_STD[1], CMC_LAB_STD[2]]);
      }
      s.outputs.push({ data: L, shape: [s.h, s.w, 1] }, { data: ab, shape: [s.h, s.w, 2] });
      s.u8 = null;
      return;
    }
    case 'patchGrid': {
      const span = (t.grid - 1) * t.stride + t.patchSize;
      if (span > s.w || span > s.h) {
        throw new RangeError(`patchGrid needs an image of at least ${span}x${span} (grid ${t.grid}, patch ${t.patchSize}, stride ${t.stride}), got ${s.h}x${s.w}`);
      }
      const len = t.grid * t.grid * t.patchSize * t.patchSize * s.c;
      const shape = [t.grid * t.grid, t.patchSize, t.patchSize, s.c];
      if (s.f32) {
        const out = s.alloc('f32', len) as Float32Array;
        extractPatchGrid(s.f32, s.w, s.h, s.c, t.grid, t.patchSize, t.stride, out);
        s.outputs.push({ data: out, shape });
      } else {
        const out = s.alloc('u8', len) as Uint8Array;
        extractPatchGrid(materialize(s), s.w, s.h, s.c, t.grid, t.patchSize, t.stride, out);
        s.outputs.push({ data: out, shape });
      }
      s.u8 = null;
      s.f32 = null;
      return;
    }
  }
}

/**
 * Applies every view of `spec` to `image`. Returns the outputs in order (one per view, two
 * for a view ending in splitLab). Spec must have passed validateAugmentSpec.
 */
export function applyAugment(image: SourceImage, spec: AugmentSpec, key: AugmentKey, alloc: OutputAlloc = newOutput): ViewArray[] {
  const outputs: ViewArray[] = [];
  for (let v = 0; v < spec.views.length; v++) {
    const rng = new Rng(key.seed, key.epoch, key.index, v);
    const s: State = { alloc, src: image, w: image.width, h: image.height, c: image.channels, u8: null, f32: null, outputs };
    for (const t of spec.views[v]) apply(t, s, rng);
    if (s.f32) outputs.push({ data: s.f32, shape: [s.h, s.w, s.c] });
    else if (s.u8 || s.src) {
      const px = s.src ? materialize(s) : s.u8!;
      let data = px;
      if (isScratch(px) || alloc !== newOutput) {
        data = alloc('u8', px.length) as Uint8Array; // out of the per-thread scratch (or into the caller's memory)
        data.set(px);
      }
      outputs.push({ data, shape: [s.h, s.w, s.c] });
    }
  }
  return outputs;
}
