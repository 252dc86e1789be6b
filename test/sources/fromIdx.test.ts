import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { lastValueFrom, take, toArray } from 'rxjs';
import { fromIdx } from '../../src/sources/fromIdx.ts';
import { DataFormatError } from '../../src/data.ts';
import { Rng } from '../../src/internal/prng.ts';

function idx(type: number, dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

let dir: string;
const N = 9;
const R = 4;
const CC = 5;
const pixels = new Uint8Array(N * R * CC).map((_, i) => (i * 7) & 255);
const labels = new Uint8Array(N).map((_, i) => (i * 3) % 10);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-idx-'));
  writeFileSync(join(dir, 'img.idx'), idx(8, [N, R, CC], pixels));
  writeFileSync(join(dir, 'img.idx.gz'), gzipSync(idx(8, [N, R, CC], pixels)));
  writeFileSync(join(dir, 'lbl.idx.gz'), gzipSync(idx(8, [N], labels)));
  writeFileSync(join(dir, 'rgb.idx'), idx(8, [2, 2, 2, 3], new Uint8Array(24).map((_, i) => i)));
  writeFileSync(join(dir, 'short.idx'), idx(8, [N, R, CC], pixels.subarray(0, 30)));
  writeFileSync(join(dir, 'float.idx'), idx(0x0d, [1, 1, 1], new Uint8Array(4)));
  writeFileSync(join(dir, 'bad.idx'), Buffer.from([1, 2, 8, 3, 0, 0]));
  writeFileSync(join(dir, 'lbl-wrong.idx'), idx(8, [N + 1], new Uint8Array(N + 1)));
  // a larger, gzipped file for the unsubscribe test (about 6 MB decompressed)
  const big = new Uint8Array(8000 * 28 * 28);
  const rng = new Rng(1);
  for (let i = 0; i < big.length; i++) big[i] = rng.nextU32() & 0x3f;
  writeFileSync(join(dir, 'big.idx.gz'), gzipSync(idx(8, [8000, 28, 28], big), { level: 1 }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fromIdx', () => {
  for (const name of ['img.idx', 'img.idx.gz']) {
    it(`reads ${name} with labels`, async () => {
      const out = await lastValueFrom(fromIdx(join(dir, name), { labels: join(dir, 'lbl.idx.gz') }).pipe(toArray()));
      expect(out.length).toBe(N);
      out.forEach((s, i) => {
        expect(s).toMatchObject({ index: i, width: CC, height: R, channels: 1, label: labels[i] });
        expect(Array.from(s.pixels)).toEqual(Array.from(pixels.subarray(i * R * CC, (i + 1) * R * CC)));
      });
    });
  }

  it('reads 4-D (channels) IDX and shuffles', async () => {
    const out = await lastValueFrom(fromIdx(join(dir, 'rgb.idx'), { shuffle: true, epochs: 3, seed: 5 }).pipe(toArray()));
    expect(out.length).toBe(6);
    expect(out[0]).toMatchObject({ width: 2, height: 2, channels: 3 });
    const first = out.find((s) => s.index === 1)!;
    expect(Array.from(first.pixels)).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]);
  });

  it('names the file and the problem in DataFormatError', async () => {
    await expect(lastValueFrom(fromIdx(join(dir, 'short.idx')).pipe(toArray()))).rejects.toThrow(/short\.idx: is truncated/);
    await expect(lastValueFrom(fromIdx(join(dir, 'float.idx')))).rejects.toThrow(/unsigned bytes/);
    await expect(lastValueFrom(fromIdx(join(dir, 'bad.idx')))).rejects.toThrow(DataFormatError);
    await expect(lastValueFrom(fromIdx(join(dir, 'img.idx'), { labels: join(dir, 'lbl-wrong.idx') }))).rejects.toThrow(/10 labels for 9 images/);
  });

  it('is cold, and stops reading when unsubscribed', async () => {
    const file = join(dir, 'big.idx.gz');
    let loaded = 0;
    const src = fromIdx(file, { onProgress: (b) => (loaded = b) });
    await new Promise((r) => setTimeout(r, 20));
    expect(loaded).toBe(0); // nothing read before subscription
    const first = await lastValueFrom(src.pipe(take(3), toArray()));
    expect(first.map((s) => s.index)).toEqual([0, 1, 2]);
    const atStop = loaded;
    await new Promise((r) => setTimeout(r, 150));
    const total = 16 + 8000 * 28 * 28;
    expect(loaded).toBe(atStop); // no reading after unsubscription
    expect(loaded).toBeLessThan(total / 2);
  });

  const fm = '/usr/share/datasets/fashion-mnist';
  it.skipIf(!existsSync(join(fm, 't10k-images-idx3-ubyte.gz')))('reads Fashion-MNIST (Debian dataset-fashion-mnist)', async () => {
    const out = await lastValueFrom(
      fromIdx(join(fm, 't10k-images-idx3-ubyte.gz'), { labels: join(fm, 't10k-labels-idx1-ubyte.gz'), subset: 5 }).pipe(toArray()),
    );
    expect(out.map((s) => [s.width, s.height, s.channels])).toEqual(Array(5).fill([28, 28, 1]));
    expect(out.map((s) => s.label)).toEqual([9, 2, 1, 1, 6]); // the first t10k labels
  });
});
