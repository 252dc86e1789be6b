/**
 * Turns a `--data PATH` into training and evaluation sources.
 *
 * Recognised layouts (checked in this order):
 * - IDX (MNIST, Fashion-MNIST): `train-images-idx3-ubyte[.gz]` + `train-labels-idx1-ubyte[.gz]`,
 *   evaluation on `t10k-*` when present.
 * - CIFAR-10 binary: `data_batch_{1..5}.bin` (also inside `cifar-10-batches-bin/`), evaluation
 *   on `test_batch.bin`.
 * - Image folder: with `train/` (and `test/` or `val/`) subfolders whose first-level subfolders
 *   are classes; otherwise the whole folder, without labels (no kNN evaluation).
 *
 * The embedded default (`data/fashion-mnist-small`) is an IDX folder.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContrastreamError } from '../errors.ts';
import type { SourceItem } from '../data.ts';
import type { DataSource } from '../sources/DataSource.ts';
import { fromIdx } from '../sources/fromIdx.ts';
import { fromCifar10Binary } from '../sources/fromCifar10Binary.ts';
import { fromImageFolder } from '../sources/fromImageFolder.ts';
import type { SourceConfig } from '../internal/sourcePlan.ts';
import { readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fromVideoFile, probeVideo } from '../sources/fromVideoFile.ts';

/** Folder of the embedded default data. */
export const EMBEDDED_DATA = fileURLToPath(new URL('../../data/fashion-mnist-small/', import.meta.url));

export class DatasetError extends ContrastreamError {}

export type DatasetFormat = 'idx' | 'cifar10' | 'folder' | 'video';

export interface OpenedDataset {
  format: DatasetFormat;
  root: string;
  /** Native size (folders: unknown until decoded -> 0). */
  height: number;
  width: number;
  channels: number;
  labelled: boolean;
  numClasses?: number;
  /** Training items with the given epochs/shuffle/seed/subset. */
  train(config: SourceConfig): DataSource<SourceItem>;
  /** Labelled evaluation split, when there is one. */
  test?(config: SourceConfig): DataSource<SourceItem>;
  /** Number of training items (after no subset). */
  trainSize: number;
}

function firstExisting(dir: string, names: string[]): string | undefined {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  return undefined;
}

async function countItems(source: DataSource<SourceItem>): Promise<number> {
  let n = 0;
  for await (const _ of source) n++;
  return n;
}

export async function openDataset(path: string | undefined): Promise<OpenedDataset> {
  const root = resolve(path ?? EMBEDDED_DATA);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new DatasetError(`--data '${root}' is not a directory. Point it at an IDX, CIFAR-10 binary or image folder.`);
  }
  const idxImages = firstExisting(root, ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte']);
  if (idxImages !== undefined) {
    const idxLabels = firstExisting(root, ['train-labels-idx1-ubyte.gz', 'train-labels-idx1-ubyte']);
    const testImages = firstExisting(root, ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte']);
    const testLabels = firstExisting(root, ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']);
    const probe = fromIdx(idxImages, { labels: idxLabels, subset: 1 });
    let first: { width: number; height: number; channels: number } | undefined;
    for await (const s of probe) first = s;
    if (first === undefined) throw new DatasetError(`${idxImages} holds no images`);
    const trainSize = await countItems(fromIdx(idxImages, {}));
    return {
      format: 'idx',
      root,
      ...first,
      labelled: idxLabels !== undefined,
      numClasses: idxLabels !== undefined ? 10 : undefined,
      trainSize,
      train: (c) => fromIdx(idxImages, { ...c, labels: idxLabels }),
      test: testImages !== undefined && testLabels !== undefined ? (c) => fromIdx(testImages, { ...c, labels: testLabels }) : undefined,
    };
  }
  const cifarDir = existsSync(join(root, 'cifar-10-batches-bin')) ? join(root, 'cifar-10-batches-bin') : root;
  if (existsSync(join(cifarDir, 'data_batch_1.bin'))) {
    const batches = [1, 2, 3, 4, 5].map((i) => join(cifarDir, `data_batch_${i}.bin`)).filter((p) => existsSync(p));
    const testBatch = join(cifarDir, 'test_batch.bin');
    return {
      format: 'cifar10',
      root: cifarDir,
      height: 32,
      width: 32,
      channels: 3,
      labelled: true,
      numClasses: 10,
      trainSize: batches.length * 10000,
      train: (c) => fromCifar10Binary(batches, c),
      test: existsSync(testBatch) ? (c) => fromCifar10Binary(testBatch, c) : undefined,
    };
  }
  const video = await openVideoFolder(root);
  if (video !== undefined) return video;
  const trainDir = existsSync(join(root, 'train')) ? join(root, 'train') : undefined;
  const testDir = trainDir ? firstExisting(root, ['test', 'val']) : undefined;
  const folder = trainDir ?? root;
  const labelled = trainDir !== undefined;
  const trainSize = await countItems(fromImageFolder(folder, { labels: labelled }));
  if (trainSize === 0) throw new DatasetError(`no .jpg/.jpeg/.png/.webp images under '${folder}'`);
  return {
    format: 'folder',
    root,
    height: 0,
    width: 0,
    channels: 3,
    labelled,
    trainSize,
    train: (c) => fromImageFolder(folder, { ...c, labels: labelled }),
    test: testDir !== undefined ? (c) => fromImageFolder(testDir, { ...c, labels: true }) : undefined,
  };
}

/** Video file extensions recognised in a data folder. */
export const VIDEO_EXTENSIONS = ['.mp4', '.m4v', '.mkv', '.webm', '.mov', '.avi'] as const;
/** Frames per second video folders are decoded at. */
export const VIDEO_DATA_FPS = 10;
/** Videos taller than this are scaled down to it (keeping the aspect ratio) when decoded. */
export const VIDEO_DATA_MAX_HEIGHT = 64;

/**
 * A folder whose files (directly inside it) are videos: frames at VIDEO_DATA_FPS, scaled to at most
 * VIDEO_DATA_MAX_HEIGHT px high (the first video's size for all), no labels. The training
 * source emits Frames (for the temporal pipeline and CPC with sequenceLength); corrupt videos
 * are skipped with a warning on stderr. Undefined when the folder holds no video.
 */
async function openVideoFolder(root: string): Promise<OpenedDataset | undefined> {
  const files = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isFile() && (VIDEO_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase()))
    .map((e) => join(root, e.name))
    .sort();
  if (files.length === 0) return undefined;
  const first = await probeVideo(files[0]);
  const scale = Math.min(1, VIDEO_DATA_MAX_HEIGHT / first.height);
  const height = Math.max(2, 2 * Math.round((first.height * scale) / 2));
  const width = Math.max(2, 2 * Math.round((first.width * scale) / 2));
  let frames = 0;
  for (const f of files) {
    try {
      const p = await probeVideo(f);
      frames += Number.isFinite(p.durationSec) ? Math.round(p.durationSec * VIDEO_DATA_FPS) : 0;
    } catch {
      // counted as empty; the source reports it when it reaches it
    }
  }
  if (frames === 0) throw new DatasetError(`the videos under '${root}' have no readable frames (ffprobe found no duration)`);
  return {
    format: 'video',
    root,
    height,
    width,
    channels: 3,
    labelled: false,
    trainSize: frames,
    train: (c) =>
      fromVideoFile(files, {
        ...c,
        fps: VIDEO_DATA_FPS,
        size: { width, height },
        concurrency: Math.min(8, files.length),
        onSkip: (e) => process.stderr.write(`warning: ${e.message}\n`),
      }) as unknown as DataSource<SourceItem>,
  };
}
