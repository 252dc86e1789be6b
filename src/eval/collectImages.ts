/**
 * Decodes a labelled source into one uint8 array of images at a fixed square size, for
 * evaluation (kNN, linear probe) and `embed`: torchvision's Resize(size) + CenterCrop(size),
 * done in the augmentation pool.
 *
 * Rows are ordered by (file, index): image folders by path, videos by file then frame (frame
 * indices restart at 0 in every video, so the index alone does not order video frames),
 * IDX/CIFAR (no path) by dataset index.
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

/** Where row i of an ImageSet came from: the item's file (when it has one) and index. */
export interface ImageOrigin {
  path: string | undefined;
  index: number;
}

/** The images of `source` as one ImageSet, rows ordered by (file, index). */
export async function collectImages(source: DataSource<SourceItem>, size: number, pool: AugmentPool): Promise<ImageSet> {
  return (await collectImagesWithOrigins(source, size, pool)).set;
}

/**
 * As collectImages, and also where every row came from (`origins[i]` for row i). `limit` keeps
 * the first `limit` rows after ordering (all when undefined).
 */
export async function collectImagesWithOrigins(
  source: DataSource<SourceItem>,
  size: number,
  pool: AugmentPool,
  limit?: number,
): Promise<{ set: ImageSet; origins: ImageOrigin[] }> {
  const samples = await lastValueFrom(
    source.pipe(
      augmentInPool({ pool, augment: { views: [[resize(size), centerCrop(size)]] } }), // [size, size, C] uint8
      reduce((acc: AugmentedSample[], s) => (acc.push(s), acc), []),
    ),
  );
  samples.sort((a, b) => ((a.path ?? '') < (b.path ?? '') ? -1 : (a.path ?? '') > (b.path ?? '') ? 1 : a.index - b.index));
  const rows = limit === undefined ? samples : samples.slice(0, limit);
  const channels = rows[0]?.views[0].shape[2] ?? 1;
  const per = size * size * channels;
  const images = new Uint8Array(rows.length * per);
  const labels = new Int32Array(rows.length);
  rows.forEach((s, i) => {
    images.set(s.views[0].data as Uint8Array, i * per);
    labels[i] = s.label ?? -1;
  });
  return { set: { images, labels, count: rows.length, size, channels }, origins: rows.map((s) => ({ path: s.path, index: s.index })) };
}
