import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { fromCifar10Binary, CIFAR10_RECORD_BYTES } from '../../src/sources/fromCifar10Binary.ts';
import { DataFormatError } from '../../src/data.ts';

/** Record r of file f: label (f + r) % 10, plane p pixel i = (p * 50 + i + r) & 255. */
function batchFile(f: number, records: number): Buffer {
  const b = Buffer.alloc(records * CIFAR10_RECORD_BYTES);
  for (let r = 0; r < records; r++) {
    const o = r * CIFAR10_RECORD_BYTES;
    b[o] = (f + r) % 10;
    for (let p = 0; p < 3; p++) for (let i = 0; i < 1024; i++) b[o + 1 + p * 1024 + i] = (p * 50 + i + r + f) & 255;
  }
  return b;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'contrastream-cifar-'));
  const inner = join(dir, 'cifar-10-batches-bin');
  mkdirSync(inner);
  writeFileSync(join(inner, 'data_batch_1.bin'), batchFile(1, 3));
  writeFileSync(join(inner, 'data_batch_2.bin'), batchFile(2, 2));
  writeFileSync(join(inner, 'test_batch.bin'), batchFile(9, 4));
  writeFileSync(join(dir, 'odd.bin'), Buffer.alloc(CIFAR10_RECORD_BYTES + 5));
  const c100 = batchFile(0, 1);
  c100[0] = 42;
  writeFileSync(join(dir, 'c100.bin'), c100);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fromCifar10Binary', () => {
  it('reads the train split of a directory across files, planar -> HWC', async () => {
    const out = await lastValueFrom(fromCifar10Binary(dir).pipe(toArray()));
    expect(out.map((s) => s.index)).toEqual([0, 1, 2, 3, 4]);
    expect(out.map((s) => s.label)).toEqual([1, 2, 3, 2, 3]);
    const s = out[4]; // file 2, record 1
    expect([s.width, s.height, s.channels]).toEqual([32, 32, 3]);
    for (const [y, x] of [[0, 0], [5, 7], [31, 31]]) {
      const i = y * 32 + x;
      for (let p = 0; p < 3; p++) expect(s.pixels[i * 3 + p]).toBe((p * 50 + i + 1 + 2) & 255);
    }
  });

  it('reads the test split, a single file, shuffled epochs', async () => {
    const test = await lastValueFrom(fromCifar10Binary(dir, { split: 'test' }).pipe(toArray()));
    expect(test.length).toBe(4);
    const one = await lastValueFrom(fromCifar10Binary(join(dir, 'cifar-10-batches-bin', 'data_batch_2.bin'), { shuffle: true, epochs: 2, seed: 1 }).pipe(toArray()));
    expect(one.map((s) => s.index).sort()).toEqual([0, 0, 1, 1]);
  });

  it('rejects malformed files with DataFormatError', async () => {
    await expect(lastValueFrom(fromCifar10Binary(join(dir, 'odd.bin')))).rejects.toThrow(/not a multiple of the 3073-byte/);
    await expect(lastValueFrom(fromCifar10Binary(join(dir, 'c100.bin')))).rejects.toThrow(DataFormatError);
    await expect(lastValueFrom(fromCifar10Binary(join(dir, 'cifar-10-batches-bin', 'nope.bin')))).rejects.toThrow(/ENOENT/);
  });
});
