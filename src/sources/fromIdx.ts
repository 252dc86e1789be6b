/**
 * IDX files (MNIST, Fashion-MNIST, EMNIST, KMNIST), gzipped or not (detected from the gzip
 * magic bytes, not the file name).
 *
 * Format (LeCun): bytes 0-1 zero, byte 2 the type (0x08 = unsigned byte, the only type images
 * use), byte 3 the number of dimensions d, then d big-endian uint32 sizes, then the data.
 * Images are [N, rows, cols] (1 channel) or [N, rows, cols, channels]; labels [N].
 *
 * The file is streamed: without shuffling the first samples are emitted while the rest is
 * still loading, and unsubscribing stops the read. With shuffling a sample waits until its
 * bytes are loaded (so the whole file, for a full permutation).
 *
 *   fromIdx('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz',
 *           { labels: '/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz', shuffle: true })
 */
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ArgumentError } from '../errors.ts';
import { DataFormatError, type Sample } from '../data.ts';
import type { DataSource } from './DataSource.ts';
import { ByteLoader } from '../internal/byteLoader.ts';
import { indexedSource } from '../internal/indexedSource.ts';
import type { SourceConfig } from '../internal/sourcePlan.ts';

const gunzipAsync = promisify(gunzip);

export interface FromIdxConfig extends SourceConfig {
  /** IDX labels file ([N] unsigned bytes), gzipped or not. */
  labels?: string;
  /** Called with the bytes of the images file loaded so far (progress; tests). */
  onProgress?: (bytes: number) => void;
}

export interface IdxHeader {
  type: number;
  dims: number[];
  headerBytes: number;
}

/** Parses an IDX header; throws DataFormatError naming the file. */
export function parseIdxHeader(file: string, bytes: Uint8Array): IdxHeader {
  if (bytes.length < 4) throw new DataFormatError(file, 'is too short for an IDX header');
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new DataFormatError(file, `is not an IDX file (magic ${bytes[0]}, ${bytes[1]}; expected 0, 0)`);
  const type = bytes[2];
  const d = bytes[3];
  if (d < 1 || d > 4) throw new DataFormatError(file, `has ${d} dimensions; IDX images have 3 or 4, labels 1`);
  if (bytes.length < 4 + 4 * d) throw new DataFormatError(file, 'is too short for its IDX header');
  const dims: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < d; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return { type, dims, headerBytes: 4 + 4 * d };
}

async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const raw = await readFile(path);
  return raw[0] === 0x1f && raw[1] === 0x8b ? new Uint8Array(await gunzipAsync(raw)) : new Uint8Array(raw);
}

export function fromIdx(imagesPath: string, config: FromIdxConfig = {}): DataSource<Sample> {
  const fn = 'fromIdx';
  if (typeof imagesPath !== 'string' || imagesPath.length === 0) throw new ArgumentError(fn, 'imagesPath', 'must be a file path');
  return indexedSource<Sample>(fn, config, async () => {
    const loader = new ByteLoader(imagesPath, { onProgress: config.onProgress });
    try {
      const head = await loader.header(4).catch((err) => {
        throw err instanceof DataFormatError ? new DataFormatError(imagesPath, 'is too short for an IDX header') : err;
      });
      const d = head[3];
      const hdr = parseIdxHeader(imagesPath, await loader.header(4 + 4 * Math.max(1, Math.min(d, 4))));
      if (hdr.type !== 0x08) throw new DataFormatError(imagesPath, `holds type 0x${hdr.type.toString(16)}; images must be unsigned bytes (0x08)`);
      if (hdr.dims.length !== 3 && hdr.dims.length !== 4) throw new DataFormatError(imagesPath, `has ${hdr.dims.length} dimensions; images have 3 ([N, rows, cols]) or 4`);
      const [n, height, width] = hdr.dims;
      const channels = hdr.dims.length === 4 ? hdr.dims[3] : 1;
      if (height === 0 || width === 0 || channels === 0) throw new DataFormatError(imagesPath, `has an empty image size ${height}x${width}x${channels}`);
      const size = height * width * channels;
      loader.allocate(hdr.headerBytes + n * size);
      let labels: Uint8Array | undefined;
      if (config.labels) {
        const lb = await readMaybeGzip(config.labels);
        const lh = parseIdxHeader(config.labels, lb);
        if (lh.type !== 0x08 || lh.dims.length !== 1) throw new DataFormatError(config.labels, 'is not an IDX labels file (1-D unsigned bytes)');
        if (lh.dims[0] !== n) throw new DataFormatError(config.labels, `has ${lh.dims[0]} labels for ${n} images in ${imagesPath}`);
        if (lb.length !== lh.headerBytes + n) throw new DataFormatError(config.labels, `holds ${lb.length - lh.headerBytes} label bytes, header says ${n}`);
        labels = lb.subarray(lh.headerBytes);
      }
      const base = hdr.headerBytes;
      return {
        length: n,
        async get(index: number, epoch: number) {
          const start = base + index * size;
          if (loader.loaded < start + size) await loader.ensure(start + size);
          const s: Sample = { index, epoch, pixels: loader.buffer.subarray(start, start + size), width, height, channels, path: imagesPath };
          if (labels) s.label = labels[index];
          return s;
        },
        close: () => loader.close(),
      };
    } catch (err) {
      loader.close();
      throw err;
    }
  });
}
