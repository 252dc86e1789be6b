/**
 * A source over images already in memory: one packed HWC array of N images, or one array per
 * image. Samples are views into the given arrays (no copies): do not modify them.
 */
import { ArgumentError } from '../errors.ts';
import type { Sample } from '../data.ts';
import type { DataSource } from './DataSource.ts';
import { indexedSource } from '../internal/indexedSource.ts';
import type { SourceConfig } from '../internal/sourcePlan.ts';

export interface ArraysData {
  /** N * height * width * channels bytes (HWC per image, images back to back), or one array per image. */
  images: Uint8Array | readonly Uint8Array[];
  width: number;
  height: number;
  channels: number;
  /** One integer label per image. */
  labels?: ArrayLike<number>;
}

/** Options: see SourceConfig (seed, shuffle, epochs, subset). */
export type FromArraysConfig = SourceConfig;

export function fromArrays(data: ArraysData, config: FromArraysConfig = {}): DataSource<Sample> {
  const fn = 'fromArrays';
  const { width, height, channels, labels } = data;
  for (const [k, v] of [['width', width], ['height', height], ['channels', channels]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new ArgumentError(fn, `data.${k}`, `must be a positive integer, got ${v}`);
  }
  const size = width * height * channels;
  let n: number;
  let at: (i: number) => Uint8Array;
  if (data.images instanceof Uint8Array) {
    const packed = data.images;
    if (packed.length % size !== 0) {
      throw new ArgumentError(fn, 'data.images', `has ${packed.length} bytes, not a multiple of ${height}x${width}x${channels} = ${size}`);
    }
    n = packed.length / size;
    at = (i) => packed.subarray(i * size, (i + 1) * size);
  } else if (Array.isArray(data.images)) {
    const list = data.images as readonly Uint8Array[];
    list.forEach((img, i) => {
      if (!(img instanceof Uint8Array) || img.length !== size) {
        throw new ArgumentError(fn, `data.images[${i}]`, `must be a Uint8Array of ${size} bytes (${height}x${width}x${channels})`);
      }
    });
    n = list.length;
    at = (i) => list[i];
  } else {
    throw new ArgumentError(fn, 'data.images', 'must be a Uint8Array or an array of Uint8Arrays');
  }
  if (labels !== undefined && labels.length !== n) {
    throw new ArgumentError(fn, 'data.labels', `has ${labels.length} entries for ${n} images`);
  }
  return indexedSource<Sample>(fn, config, async () => ({
    length: n,
    get: (index, epoch) => {
      const s: Sample = { index, epoch, pixels: at(index), width, height, channels };
      if (labels) s.label = labels[index];
      return s;
    },
  }));
}
