/**
 * Augmentation presets of the contrastive methods, as their papers / reference code define
 * them (ImageNet defaults; pass `size` and the normalisation for other data). All presets
 * work on 1-channel images: colour-only steps become no-ops there (see color.ts) and a
 * 3-entry mean/std is averaged.
 *
 * | preset  | views | per view                                                              |
 * |---------|-------|-----------------------------------------------------------------------|
 * | simclr  | 2     | RRC(size, 0.08-1), flip, p=.8 jitter(.8s,.8s,.8s,.2s), p=.2 grey,     |
 * |         |       | p=.5 blur(k = 10% of size, sigma .1-2) (off for size <= 32), normalize |
 * | mocoV1  | 2     | RRC(size, 0.2-1), p=.2 grey, jitter(.4,.4,.4,.4), flip, normalize      |
 * | mocoV2  | 2     | RRC(size, 0.2-1), p=.8 jitter(.4,.4,.4,.1), p=.2 grey,                 |
 * |         |       | p=.5 blur(sigma .1-2), flip, normalize                                 |
 * | instDisc| 1     | RRC(size, 0.2-1), p=.2 grey, jitter(.4,.4,.4,.4), flip, normalize      |
 * | cmc     | 1 (2 outputs) | RRC(size, 0.2-1), flip, Lab split -> L [H,W,1], ab [H,W,2]     |
 * | cpc     | 1     | RRC(size, 0.5-1) (size = (grid-1)*stride + patch), flip, normalize,    |
 * |         |       | patch grid [grid^2, patch, patch, C]                                   |
 *
 * Sources: SimCLR (Chen et al. 2020, App. A; `get_color_distortion`), MoCo (He et al. 2020,
 * main_moco.py without / with --aug-plus), InstDisc (Wu et al. 2018, lemniscate main.py),
 * CMC (Tian et al. 2019, train_CMC.py, Lab), CPC (van den Oord et al. 2018; Henaff et al. 2019).
 */
import {
  colorJitter,
  gaussianBlur,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  patchGrid,
  randomApply,
  randomGrayscale,
  randomHorizontalFlip,
  randomResizedCrop,
  splitLab,
  type AugmentSpec,
  type Range,
  type Transform,
  nViews,
} from './spec.ts';

export interface PresetConfig {
  /** Output size (square). Default 224. */
  size?: number;
  /** Crop area fraction range of RandomResizedCrop. */
  scale?: Range;
  /** Normalize mean/std (per channel, or one value). Default ImageNet. */
  mean?: readonly number[];
  std?: readonly number[];
  /** Number of views (SimCLR/MoCo: 2). */
  views?: number;
}

function oddKernel(size: number): number {
  const k = Math.max(3, Math.round(0.1 * size));
  return k % 2 === 1 ? k : k + 1;
}

export interface SimclrConfig extends PresetConfig {
  /** Colour distortion strength s: jitter (0.8s, 0.8s, 0.8s, 0.2s). Default 1. */
  strength?: number;
  /** Explicit jitter (overrides strength). */
  jitter?: { brightness?: number; contrast?: number; saturation?: number; hue?: number };
  /** Probability of the jitter. Default 0.8. */
  jitterProb?: number;
  /** Probability of greyscale. Default 0.2. */
  grayscaleProb?: number;
  /** Probability of the Gaussian blur. Default 0.5 for size > 32, else 0 (SimCLR's CIFAR setup). */
  blurProb?: number;
}

/** SimCLR (Chen et al. 2020). */
export function simclr(config: SimclrConfig = {}): AugmentSpec {
  const size = config.size ?? 224;
  const s = config.strength ?? 1;
  const j = config.jitter ?? { brightness: 0.8 * s, contrast: 0.8 * s, saturation: 0.8 * s, hue: 0.2 * s };
  const blurProb = config.blurProb ?? (size > 32 ? 0.5 : 0);
  const t: Transform[] = [
    randomResizedCrop(size, { scale: config.scale ?? [0.08, 1] }),
    randomHorizontalFlip(),
    randomApply(colorJitter(j), config.jitterProb ?? 0.8),
    randomGrayscale(config.grayscaleProb ?? 0.2),
  ];
  if (blurProb > 0) t.push(randomApply(gaussianBlur(oddKernel(size), [0.1, 2.0]), blurProb));
  t.push(normalize(config.mean ?? IMAGENET_MEAN, config.std ?? IMAGENET_STD));
  return nViews(config.views ?? 2, t);
}

/** MoCo v1 (He et al. 2020): the InstDisc augmentation, two views. */
export function mocoV1(config: PresetConfig = {}): AugmentSpec {
  return nViews(config.views ?? 2, instDiscView(config));
}

/** MoCo v2 (Chen et al. 2020, "aug+"). */
export function mocoV2(config: PresetConfig = {}): AugmentSpec {
  const size = config.size ?? 224;
  return nViews(config.views ?? 2, [
    randomResizedCrop(size, { scale: config.scale ?? [0.2, 1] }),
    randomApply(colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }), 0.8),
    randomGrayscale(0.2),
    randomApply(gaussianBlur(oddKernel(size), [0.1, 2.0]), 0.5),
    randomHorizontalFlip(),
    normalize(config.mean ?? IMAGENET_MEAN, config.std ?? IMAGENET_STD),
  ]);
}

function instDiscView(config: PresetConfig): Transform[] {
  return [
    randomResizedCrop(config.size ?? 224, { scale: config.scale ?? [0.2, 1] }),
    randomGrayscale(0.2),
    colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.4 }),
    randomHorizontalFlip(),
    normalize(config.mean ?? IMAGENET_MEAN, config.std ?? IMAGENET_STD),
  ];
}

/** InstDisc (Wu et al. 2018): one view per image (the memory bank holds the other side). */
export function instDisc(config: PresetConfig = {}): AugmentSpec {
  return nViews(config.views ?? 1, instDiscView(config));
}

/** CMC (Tian et al. 2019), Lab: one crop per image, split into L and ab (two outputs). */
export function cmc(config: Omit<PresetConfig, 'mean' | 'std'> = {}): AugmentSpec {
  return nViews(config.views ?? 1, [
    randomResizedCrop(config.size ?? 224, { scale: config.scale ?? [0.2, 1] }),
    randomHorizontalFlip(),
    splitLab({ normalize: true }),
  ]);
}

export interface CpcConfig extends Omit<PresetConfig, 'size'> {
  /** Patches per side. Default 7. */
  grid?: number;
  /** Patch size. Default 64. */
  patchSize?: number;
  /** Patch stride. Default patchSize / 2 (50% overlap). */
  stride?: number;
}

/** CPC (van den Oord et al. 2018): a crop cut into an overlapping patch grid. */
export function cpc(config: CpcConfig = {}): AugmentSpec {
  const grid = config.grid ?? 7;
  const patchSize = config.patchSize ?? 64;
  const stride = config.stride ?? Math.max(1, Math.floor(patchSize / 2));
  const size = (grid - 1) * stride + patchSize;
  return nViews(config.views ?? 1, [
    randomResizedCrop(size, { scale: config.scale ?? [0.5, 1] }),
    randomHorizontalFlip(),
    normalize(config.mean ?? IMAGENET_MEAN, config.std ?? IMAGENET_STD),
    patchGrid({ grid, patchSize, stride }),
  ]);
}
