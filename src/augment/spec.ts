/**
 * Augmentation specs: plain data (so that they can be sent to worker threads), built with
 * functions named and parameterised like torchvision.transforms. An `AugmentSpec` lists the
 * views to make from every image; each view is a list of transforms applied in order, each
 * drawing its randomness from a stream keyed by (seed, epoch, sample index, view index).
 *
 *   const spec = twoViews([
 *     randomResizedCrop(96, { scale: [0.2, 1] }),
 *     randomHorizontalFlip(),
 *     randomApply(colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }), 0.8),
 *     randomGrayscale(0.2),
 *     normalize(IMAGENET_MEAN, IMAGENET_STD),
 *   ]);
 */
import { ArgumentError } from '../errors.ts';

export type Range = readonly [number, number];

export type Transform =
  | { readonly kind: 'randomResizedCrop'; readonly size: Range; readonly scale: Range; readonly ratio: Range }
  | { readonly kind: 'resize'; readonly size: number | Range }
  | { readonly kind: 'centerCrop'; readonly size: Range }
  | { readonly kind: 'randomHorizontalFlip'; readonly p: number }
  | {
      readonly kind: 'colorJitter';
      readonly brightness: Range | null;
      readonly contrast: Range | null;
      readonly saturation: Range | null;
      readonly hue: Range | null;
    }
  | { readonly kind: 'randomApply'; readonly p: number; readonly transforms: readonly Transform[] }
  | { readonly kind: 'randomGrayscale'; readonly p: number }
  | { readonly kind: 'gaussianBlur'; readonly kernelSize: Range; readonly sigma: Range }
  | { readonly kind: 'randomSolarize'; readonly threshold: number; readonly p: number }
  | { readonly kind: 'normalize'; readonly mean: readonly number[]; readonly std: readonly number[] }
  | { readonly kind: 'splitLab'; readonly normalize: boolean }
  | { readonly kind: 'patchGrid'; readonly grid: number; readonly patchSize: number; readonly stride: number };

export type View = readonly Transform[];

/** Views to make from every image. Each view yields one output (two for `splitLab`). */
export interface AugmentSpec {
  readonly views: readonly View[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

const F = 'augment';

function pair(fn: string, arg: string, v: number | Range): Range {
  if (typeof v === 'number') return [v, v];
  if (!Array.isArray(v) || v.length !== 2) throw new ArgumentError(fn, arg, `must be a number or [a, b], got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

function checkP(fn: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(fn, 'p', `must be a probability in [0, 1], got ${p}`);
  return p;
}

function checkSize(fn: string, size: number | Range): Range {
  // torchvision: an int means a square (h, w) = (size, size) for crops
  const s = pair(fn, 'size', size);
  for (const v of s) if (!(Number.isInteger(v) && v >= 1)) throw new ArgumentError(fn, 'size', `must hold positive integers, got ${JSON.stringify(size)}`);
  return s;
}

/**
 * torchvision RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3)): a random box
 * with area fraction in `scale` and aspect ratio (w/h) in `ratio` (log-uniform), resized to
 * `size` (int: square; [h, w]) with antialiased bilinear. 10 attempts, then a central crop.
 */
export function randomResizedCrop(size: number | Range, options: { scale?: Range; ratio?: Range } = {}): Transform {
  const fn = 'randomResizedCrop';
  const s = checkSize(fn, size);
  const scale = options.scale ?? [0.08, 1.0];
  const ratio = options.ratio ?? [3 / 4, 4 / 3];
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) throw new ArgumentError(fn, 'scale', `must satisfy 0 < min <= max <= 1, got [${scale}]`);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new ArgumentError(fn, 'ratio', `must satisfy 0 < min <= max, got [${ratio}]`);
  return { kind: 'randomResizedCrop', size: s, scale: [scale[0], scale[1]], ratio: [ratio[0], ratio[1]] };
}

/**
 * torchvision Resize(size): an int matches the smaller edge (aspect kept, long edge
 * int(size * long / short)); [h, w] resizes to exactly that. Antialiased bilinear.
 */
export function resize(size: number | Range): Transform {
  const fn = 'resize';
  if (typeof size === 'number') {
    if (!(Number.isInteger(size) && size >= 1)) throw new ArgumentError(fn, 'size', `must be a positive integer, got ${size}`);
    return { kind: 'resize', size };
  }
  return { kind: 'resize', size: checkSize(fn, size) };
}

/** torchvision CenterCrop(size) (the image must be at least that large). */
export function centerCrop(size: number | Range): Transform {
  return { kind: 'centerCrop', size: checkSize('centerCrop', size) };
}

/** torchvision RandomHorizontalFlip(p=0.5). */
export function randomHorizontalFlip(p = 0.5): Transform {
  return { kind: 'randomHorizontalFlip', p: checkP('randomHorizontalFlip', p) };
}

function jitterRange(arg: string, v: number | Range | undefined, center: number, bound: Range, clipFirst: boolean): Range | null {
  const fn = 'colorJitter';
  if (v === undefined) return null;
  let r: Range;
  if (typeof v === 'number') {
    if (!(v >= 0)) throw new ArgumentError(fn, arg, `must be non-negative, got ${v}`);
    r = [center - v, center + v];
    if (clipFirst) r = [Math.max(r[0], 0), r[1]];
  } else {
    r = pair(fn, arg, v);
  }
  if (!(bound[0] <= r[0] && r[0] <= r[1] && r[1] <= bound[1])) throw new ArgumentError(fn, arg, `range [${r}] must lie in [${bound}]`);
  // torchvision: a range that is exactly the identity means "no-op"
  if (r[0] === center && r[1] === center) return null;
  return r;
}

/**
 * torchvision ColorJitter(brightness, contrast, saturation, hue). Each is a number v (factor
 * drawn from [max(0, 1 - v), 1 + v]; hue from [-v, v], v <= 0.5) or an explicit [min, max].
 * The four adjustments run in a random order, each with its own random factor.
 */
export function colorJitter(options: { brightness?: number | Range; contrast?: number | Range; saturation?: number | Range; hue?: number | Range } = {}): Transform {
  return {
    kind: 'colorJitter',
    brightness: jitterRange('brightness', options.brightness, 1, [0, Infinity], true),
    contrast: jitterRange('contrast', options.contrast, 1, [0, Infinity], true),
    saturation: jitterRange('saturation', options.saturation, 1, [0, Infinity], true),
    hue: jitterRange('hue', options.hue, 0, [-0.5, 0.5], false),
  };
}

/** torchvision RandomApply(transforms, p=0.5): applies all of them with probability p. */
export function randomApply(transforms: Transform | readonly Transform[], p = 0.5): Transform {
  const list = Array.isArray(transforms) ? (transforms as readonly Transform[]) : [transforms as Transform];
  return { kind: 'randomApply', p: checkP('randomApply', p), transforms: list };
}

/** torchvision RandomGrayscale(p=0.1): luminance replicated to every channel. */
export function randomGrayscale(p = 0.1): Transform {
  return { kind: 'randomGrayscale', p: checkP('randomGrayscale', p) };
}

/**
 * torchvision GaussianBlur(kernel_size, sigma=(0.1, 2.0)): sigma drawn uniformly from the
 * range per image; kernel sizes odd and positive ([kx, ky] or one number for both).
 */
export function gaussianBlur(kernelSize: number | Range, sigma: number | Range = [0.1, 2.0]): Transform {
  const fn = 'gaussianBlur';
  const k = pair(fn, 'kernelSize', kernelSize);
  for (const v of k) if (!(Number.isInteger(v) && v > 0 && v % 2 === 1)) throw new ArgumentError(fn, 'kernelSize', `must be odd positive integers, got ${JSON.stringify(kernelSize)}`);
  const s = pair(fn, 'sigma', sigma);
  if (!(s[0] > 0 && s[0] <= s[1])) throw new ArgumentError(fn, 'sigma', `must satisfy 0 < min <= max, got [${s}]`);
  return { kind: 'gaussianBlur', kernelSize: k, sigma: s };
}

/** torchvision RandomSolarize(threshold, p=0.5): values >= threshold are inverted. */
export function randomSolarize(threshold: number, p = 0.5): Transform {
  if (!(threshold >= 0 && threshold <= 256)) throw new ArgumentError('randomSolarize', 'threshold', `must be in [0, 256], got ${threshold}`);
  return { kind: 'randomSolarize', threshold, p: checkP('randomSolarize', p) };
}

/**
 * ToTensor + torchvision Normalize(mean, std): float32 output (v/255 - mean) / std per
 * channel. `mean`/`std` have one entry per channel, or one entry for all; a 3-entry mean
 * applied to a 1-channel image uses the average of the three.
 */
export function normalize(mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Transform {
  const fn = 'normalize';
  if (mean.length === 0 || mean.length !== std.length) throw new ArgumentError(fn, 'std', `must have as many entries as mean (${mean.length}), got ${std.length}`);
  for (const s of std) if (!(s > 0)) throw new ArgumentError(fn, 'std', `entries must be > 0, got ${s}`);
  return { kind: 'normalize', mean: [...mean], std: [...std] };
}

/** ToTensor alone: float32 v / 255. */
export function toFloat(): Transform {
  return { kind: 'normalize', mean: [0], std: [1] };
}

/**
 * RGB -> CIE Lab, split into two outputs, L [H, W, 1] and ab [H, W, 2] (CMC). With
 * `normalize` (default), CMC's normalisation is applied (mean/std of the channel ranges).
 * Must be the last transform of its view.
 */
export function splitLab(options: { normalize?: boolean } = {}): Transform {
  return { kind: 'splitLab', normalize: options.normalize ?? true };
}

/**
 * CPC patch grid: `grid x grid` patches of `patchSize` at `stride` (default patchSize / 2),
 * centred; output [grid*grid, patchSize, patchSize, C]. Must be the last transform.
 */
export function patchGrid(options: { grid: number; patchSize: number; stride?: number }): Transform {
  const fn = 'patchGrid';
  const { grid, patchSize } = options;
  const stride = options.stride ?? Math.max(1, Math.floor(patchSize / 2));
  for (const [k, v] of [['grid', grid], ['patchSize', patchSize], ['stride', stride]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new ArgumentError(fn, k, `must be a positive integer, got ${v}`);
  }
  return { kind: 'patchGrid', grid, patchSize, stride };
}

/** A spec with the same transforms for `n` views (SimCLR/MoCo: two). */
export function nViews(n: number, transforms: View): AugmentSpec {
  if (!(Number.isInteger(n) && n >= 1)) throw new ArgumentError('nViews', 'n', `must be a positive integer, got ${n}`);
  return { views: Array.from({ length: n }, () => transforms) };
}

/** Two views with the same transforms. */
export function twoViews(transforms: View): AugmentSpec {
  return nViews(2, transforms);
}

/**
 * Checks a spec (also one that was built by hand or deserialised): known transforms,
 * uint8-only transforms before Normalize, splitLab/patchGrid last. Throws ArgumentError.
 */
export function validateAugmentSpec(spec: AugmentSpec): void {
  if (!spec || !Array.isArray(spec.views) || spec.views.length === 0) {
    throw new ArgumentError(F, 'spec.views', 'must be a non-empty array of views (arrays of transforms)');
  }
  spec.views.forEach((view, v) => {
    if (!Array.isArray(view)) throw new ArgumentError(F, `spec.views[${v}]`, 'must be an array of transforms');
    let isFloat = false;
    let ended = false;
    const walk = (list: readonly Transform[], path: string, conditional: boolean) => {
      list.forEach((t, i) => {
        const where = `${path}[${i}]`;
        const k = t?.kind;
        if (conditional && (k === 'normalize' || k === 'splitLab' || k === 'patchGrid' || k === 'randomResizedCrop' || k === 'resize' || k === 'centerCrop')) {
          throw new ArgumentError(F, where, `(${k}) cannot be inside randomApply: it changes the output's type or shape`);
        }
        if (ended) throw new ArgumentError(F, where, `follows a transform that must be last (splitLab / patchGrid)`);
        switch (t?.kind) {
          case 'randomResizedCrop':
          case 'resize':
          case 'centerCrop':
          case 'colorJitter':
          case 'randomGrayscale':
          case 'gaussianBlur':
          case 'randomSolarize':
            if (isFloat) throw new ArgumentError(F, where, `(${t.kind}) works on uint8 images and must come before normalize/toFloat`);
            break;
          case 'randomHorizontalFlip':
            break;
          case 'normalize':
            if (isFloat) throw new ArgumentError(F, where, 'normalize appears twice in one view');
            isFloat = true;
            break;
          case 'splitLab':
            if (isFloat) throw new ArgumentError(F, where, 'splitLab needs the uint8 RGB image: put it before normalize, or drop normalize');
            ended = true;
            break;
          case 'patchGrid':
            ended = true;
            break;
          case 'randomApply':
            walk(t.transforms, `${where}.transforms`, true);
            break;
          default:
            throw new ArgumentError(F, where, `is not a known transform: ${JSON.stringify(t)}`);
        }
      });
    };
    walk(view, `spec.views[${v}]`, false);
  });
}
