/**
 * The CIFAR-10 binary format ("CIFAR-10 binary version", cifar-10-batches-bin/): records of
 * 1 label byte followed by 3072 pixel bytes, 1024 R then 1024 G then 1024 B (row-major 32x32
 * planes). Samples come out HWC (converted per sample), with labels 0-9.
 *
 * `path` is a .bin file, a list of them, or a directory holding data_batch_1..5.bin (split
 * 'train', the default) or test_batch.bin (split 'test'), directly or in
 * cifar-10-batches-bin/. Indices run across the files in order. Files stream like fromIdx.
 */
import { stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { DataFormatError, type Sample } from '../data.ts';
import type { DataSource } from './DataSource.ts';
import { ByteLoader } from '../internal/byteLoader.ts';
import { indexedSource } from '../internal/indexedSource.ts';
import type { SourceConfig } from '../internal/sourcePlan.ts';

export interface FromCifar10BinaryConfig extends SourceConfig {
  /** Which files a directory stands for. Default 'train'. */
  split?: 'train' | 'test';
  /** Called with the total bytes loaded so far across files. */
  onProgress?: (bytes: number) => void;
}

export const DEFAULT_FROM_CIFAR10_BINARY_CONFIG = { split: 'train' } as const;

export const CIFAR10_RECORD_BYTES = 3073;
const PLANE = 1024;

async function resolveFiles(path: string | readonly string[], split: 'train' | 'test'): Promise<string[]> {
  if (Array.isArray(path)) return [...path];
  const p = path as string;
  const st = await stat(p);
  if (st.isFile()) return [p];
  let dir = p;
  const names = await readdir(dir);
  if (!names.includes('data_batch_1.bin') && !names.includes('test_batch.bin') && names.includes('cifar-10-batches-bin')) {
    dir = join(dir, 'cifar-10-batches-bin');
  }
  const want = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const have = await readdir(dir);
  const files = want.filter((f) => have.includes(f)).map((f) => join(dir, f));
  if (files.length === 0) throw new DataFormatError(p, `holds no CIFAR-10 ${split} files (${want.join(', ')})`);
  return files;
}

export function fromCifar10Binary(path: string | readonly string[], config: FromCifar10BinaryConfig = {}): DataSource<Sample> {
  const fn = 'fromCifar10Binary';
  if (!(typeof path === 'string' || Array.isArray(path)) || path.length === 0) throw new ArgumentError(fn, 'path', 'must be a file, a list of files or a directory');
  const split = config.split ?? DEFAULT_FROM_CIFAR10_BINARY_CONFIG.split;
  if (split !== 'train' && split !== 'test') throw new ArgumentError(fn, 'config.split', `must be 'train' or 'test', got ${split}`);
  return indexedSource<Sample>(fn, config, async () => {
    const files = await resolveFiles(path, split);
    const loaders: ByteLoader[] = [];
    const starts: number[] = [];
    let n = 0;
    const progress: number[] = files.map(() => 0);
    for (let f = 0; f < files.length; f++) {
      const size = (await stat(files[f])).size;
      if (size % CIFAR10_RECORD_BYTES !== 0) {
        throw new DataFormatError(files[f], `has ${size} bytes, not a multiple of the ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 record`);
      }
      const loader = new ByteLoader(files[f], {
        onProgress: config.onProgress
          ? (b) => {
              progress[f] = b;
              config.onProgress!(progress.reduce((a, x) => a + x, 0));
            }
          : undefined,
      });
      loader.allocate(size);
      loaders.push(loader);
      starts.push(n);
      n += size / CIFAR10_RECORD_BYTES;
    }
    const close = () => loaders.forEach((l) => l.close());
    return {
      length: n,
      async get(index: number, epoch: number) {
        let f = starts.length - 1;
        while (starts[f] > index) f--;
        const loader = loaders[f];
        const off = (index - starts[f]) * CIFAR10_RECORD_BYTES;
        if (loader.loaded < off + CIFAR10_RECORD_BYTES) await loader.ensure(off + CIFAR10_RECORD_BYTES);
        const rec = loader.buffer;
        const label = rec[off];
        if (label > 9) throw new DataFormatError(files[f], `record ${index - starts[f]} has label ${label}; CIFAR-10 labels are 0-9 (is this CIFAR-100?)`);
        const pixels = new Uint8Array(3 * PLANE);
        const r = off + 1;
        for (let i = 0, o = 0; i < PLANE; i++, o += 3) {
          pixels[o] = rec[r + i];
          pixels[o + 1] = rec[r + PLANE + i];
          pixels[o + 2] = rec[r + 2 * PLANE + i];
        }
        return { index, epoch, pixels, width: 32, height: 32, channels: 3, label, path: files[f] } satisfies Sample;
      },
      close,
    };
  });
}
