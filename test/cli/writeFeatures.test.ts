/** `embed` output: .npy (checked against NumPy when it is installed) and .json. */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, readNpy, writeFeatures, NpyFormatError } from '../../src/eval/writeFeatures.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

const features = Float32Array.from({ length: 3 * 5 }, (_, i) => i * 0.5 - 3.25);
const labels = Int32Array.from([2, 0, 1]);

describe('writeFeatures', () => {
  it('.npy: header padded to 64 bytes, round-trips, labels and paths beside it', () => {
    const files = writeFeatures(join(dir, 'f.npy'), { features, shape: [3, 5], labels, paths: ['a.png', 'b.png', 'c.png'] });
    expect(files).toEqual([join(dir, 'f.npy'), join(dir, 'f.labels.npy'), join(dir, 'f.paths.txt')]);
    const bytes = readFileSync(join(dir, 'f.npy'));
    expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0);
    expect(bytes.toString('latin1', 10, 10 + bytes.readUInt16LE(8))).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 5\), \} *\n$/);
    const back = readNpy(join(dir, 'f.npy'));
    expect(back.shape).toEqual([3, 5]);
    expect(Array.from(back.data)).toEqual(Array.from(features));
    const l = readNpy(join(dir, 'f.labels.npy'));
    expect(l.shape).toEqual([3]);
    expect(l.data).toBeInstanceOf(Int32Array);
    expect(Array.from(l.data)).toEqual([2, 0, 1]);
    expect(readFileSync(join(dir, 'f.paths.txt'), 'utf8')).toBe('a.png\nb.png\nc.png\n');
  });

  it.skipIf(!hasNumpy)('.npy files load in NumPy with the same values', () => {
    writeFeatures(join(dir, 'g.npy'), { features, shape: [3, 5], labels });
    const r = spawnSync('python3', ['-c', `import numpy as np, json; x = np.load(${JSON.stringify(join(dir, 'g.npy'))}); y = np.load(${JSON.stringify(join(dir, 'g.labels.npy'))}); print(json.dumps([str(x.dtype), list(x.shape), x.ravel().tolist(), str(y.dtype), y.tolist()]))`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const [dtype, shape, values, ldtype, lvalues] = JSON.parse(r.stdout);
    expect([dtype, shape, ldtype, lvalues]).toEqual(['float32', [3, 5], 'int32', [2, 0, 1]]);
    expect(values).toEqual(Array.from(features));
  });

  it('.json: shape, rows and labels', () => {
    writeFeatures(join(dir, 'f.json'), { features, shape: [3, 5], labels });
    const j = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8'));
    expect(j.shape).toEqual([3, 5]);
    expect(j.features[1]).toEqual(Array.from(features.subarray(5, 10)));
    expect(j.labels).toEqual([2, 0, 1]);
    expect(j.paths).toBeUndefined();
  });

  it('checks sizes and the extension, and readNpy refuses other files', () => {
    expect(() => writeFeatures(join(dir, 'x.npy'), { features, shape: [4, 5] })).toThrow(/15 values for shape \[4, 5\]/);
    expect(() => writeFeatures(join(dir, 'x.npy'), { features, shape: [3, 5], labels: Int32Array.from([1]) })).toThrow(/labels.*1 entries for 3 rows/);
    expect(() => writeFeatures(join(dir, 'x.csv'), { features, shape: [3, 5] })).toThrow(/must end in \.npy or \.json/);
    writeFileSync(join(dir, 'bad.npy'), 'not numpy');
    expect(() => readNpy(join(dir, 'bad.npy'))).toThrow(NpyFormatError);
    const truncated = encodeNpy(features, [3, 5]).subarray(0, 100);
    writeFileSync(join(dir, 'short.npy'), truncated);
    expect(() => readNpy(join(dir, 'short.npy'))).toThrow(/data bytes for shape/);
  });
});
