/**
 * Decodes a labelled source into one uint8 array of images at a fixed square size, for
 * evaluation (kNN, linear probe) and `embed`: torchvision's Resize(size) + CenterCrop(size),
 * done in the augmentation pool.
 */
import { lastValueFrom, reduce } from 'rxjs';
import type { AugmentedSample, SourceItem } from '../data.ts';
import type { DataSource } from '../sources/DataSource.ts';
import { augmentInPool } from '../operators/augmentInPool.ts';
import { centerCrop, resize } from '../augment/spec.ts';
import type { AugmentPool } from '../augment/createAugmentPool.ts';

export interface ImageSet {
  /** [N, size, size, C] uint8, images back to back. */
  images: Uint8Array;
  /** [N] labels (-1 where missing). */
  labels: Int32Array;
  count: number;
  size: number;
  channels: number;
}

export async function collectImages(source: DataSource<SourceItem>, size: number, pool: AugmentPool): Promise<ImageSet> {
  const samples = await lastValueFrom(
    source.pipe(
      augmentInPool({ pool, augment: { views: [[resize(size), centerCrop(size)]] } }),
      reduce((acc: AugmentedSample[], s) => (acc.push(s), acc), []),
    ),
  );
  samples.sort((a, b) => a.index - b.index);
  const first = samples[0]?.views[0];
  const channels = first ? first.shape[2] : 1;
  const per = size * size * channels;
  const images = new Uint8Array(samples.length * per);
  const labels = new Int32Array(samples.length);
  samples.forEach((s, i) => {
    images.set(s.views[0].data as Uint8Array, i * per);
    labels[i] = s.label ?? -1;
  });
  return { images, labels, count: samples.length, size, channels };
}
