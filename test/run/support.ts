/**
 * Fixtures for run-folder tests: a tiny labelled IDX dataset on disk (the layout openDataset
 * reads), and helpers to compare checkpoints.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { syntheticImages } from '../pipelines/support.ts';
import type { Checkpoint } from '../../src/run/checkpoint.ts';

function idxImages(images: Uint8Array, n: number, size: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(n, 4);
  head.writeUInt32BE(size, 8);
  head.writeUInt32BE(size, 12);
  return Buffer.concat([head, Buffer.from(images)]);
}

function idxLabels(labels: Uint8Array, n: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0x00000801, 0);
  head.writeUInt32BE(n, 4);
  return Buffer.concat([head, Buffer.from(labels)]);
}

/** Writes train (n) and t10k (nTest) IDX files of size x size grayscale images into `dir`. */
export function writeTinyIdx(dir: string, n = 64, size = 16, nTest = 16): string {
  mkdirSync(dir, { recursive: true });
  const train = syntheticImages(n, size, 1, 1);
  const test = syntheticImages(nTest, size, 1, 2);
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), idxImages(train.images, n, size));
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idxLabels(train.labels, n));
  writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idxImages(test.images, nTest, size));
  writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idxLabels(test.labels, nTest));
  return dir;
}

/** Largest |a - b| over every module weight and optimizer slot of two checkpoints (Infinity if they differ in names/shapes). */
export function maxCheckpointDifference(a: Checkpoint, b: Checkpoint): { weights: number; optimizer: number; compared: number } {
  let weights = 0;
  let optimizer = 0;
  let compared = 0;
  const diff = (x: ArrayLike<number>, y: ArrayLike<number>): number => {
    if (x.length !== y.length) return Infinity;
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
    compared += x.length;
    return Number.isNaN(m) ? Infinity : m;
  };
  const mods = new Set([...Object.keys(a.modules), ...Object.keys(b.modules)]);
  for (const m of mods) {
    const wa = a.modules[m] ?? {};
    const wb = b.modules[m] ?? {};
    for (const n of new Set([...Object.keys(wa), ...Object.keys(wb)])) {
      weights = Math.max(weights, wa[n] && wb[n] ? diff(wa[n].values, wb[n].values) : Infinity);
    }
  }
  const sa = a.optimizer?.slots ?? {};
  const sb = b.optimizer?.slots ?? {};
  for (const p of new Set([...Object.keys(sa), ...Object.keys(sb)])) {
    for (const s of new Set([...Object.keys(sa[p] ?? {}), ...Object.keys(sb[p] ?? {})])) {
      const x = sa[p]?.[s];
      const y = sb[p]?.[s];
      optimizer = Math.max(optimizer, x && y ? diff(x.values, y.values) : Infinity);
    }
  }
  return { weights, optimizer, compared };
}
