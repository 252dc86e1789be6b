// Regenerates data/fashion-mnist-small/ from a full Fashion-MNIST copy (IDX, gzipped):
//   node scripts/make-default-data.mjs [/usr/share/datasets/fashion-mnist]
// Takes the first TRAIN_PER_CLASS train and TEST_PER_CLASS test images of each class, in
// file order, and writes them as gzipped IDX files with the same names.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';

const SRC = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const OUT = new URL('../data/fashion-mnist-small/', import.meta.url).pathname;
const TRAIN_PER_CLASS = 600;
const TEST_PER_CLASS = 100;

function subset(prefix, perClass) {
  const images = gunzipSync(readFileSync(join(SRC, `${prefix}-images-idx3-ubyte.gz`)));
  const labels = gunzipSync(readFileSync(join(SRC, `${prefix}-labels-idx1-ubyte.gz`)));
  const n = labels.readUInt32BE(4);
  const rows = images.readUInt32BE(8);
  const cols = images.readUInt32BE(12);
  const size = rows * cols;
  const counts = new Array(10).fill(0);
  const keep = [];
  for (let i = 0; i < n && keep.length < perClass * 10; i++) {
    const label = labels[8 + i];
    if (counts[label] < perClass) {
      counts[label]++;
      keep.push(i);
    }
  }
  const imgOut = Buffer.alloc(16 + keep.length * size);
  images.copy(imgOut, 0, 0, 16);
  imgOut.writeUInt32BE(keep.length, 4);
  const lblOut = Buffer.alloc(8 + keep.length);
  labels.copy(lblOut, 0, 0, 8);
  lblOut.writeUInt32BE(keep.length, 4);
  keep.forEach((i, j) => {
    images.copy(imgOut, 16 + j * size, 16 + i * size, 16 + (i + 1) * size);
    lblOut[8 + j] = labels[8 + i];
  });
  writeFileSync(join(OUT, `${prefix}-images-idx3-ubyte.gz`), gzipSync(imgOut, { level: 9 }));
  writeFileSync(join(OUT, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(lblOut, { level: 9 }));
  return keep.length;
}

mkdirSync(OUT, { recursive: true });
console.log(`train: ${subset('train', TRAIN_PER_CLASS)} images, test: ${subset('t10k', TEST_PER_CLASS)} images -> ${OUT}`);
