/**
 * Issue 7, item 9a: a weights manifest (model.json) is untrusted input. Paths with '..', absolute
 * paths (POSIX and Windows), URLs, NUL bytes, and names that reach outside the model folder
 * through a symlinked file or directory are rejected with UnsafePathError naming the manifest
 * and the entry - in any weights group, not only the first - and nothing is loaded.
 * (test/models/weightsIO.test.ts covers the basic list; these are the harder variants.)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend, activeBackend } from '../../src/backend/initBackend.ts';
import { mlpProjection } from '../../src/models/mlpProjection.ts';
import { saveWeights } from '../../src/models/saveWeights.ts';
import { loadWeights } from '../../src/models/loadWeights.ts';
import { MODEL_JSON, resolveManifestPath } from '../../src/models/fileSystemIO.ts';
import { UnsafePathError } from '../../src/errors.ts';

let root: string;
let n = 0;
const fresh = () => path.join(root, `m${n++}`);

beforeAll(async () => {
  if (activeBackend() === undefined) await initBackend({ log: null });
  root = mkdtempSync(path.join(tmpdir(), 'contrastream-unsafe-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('untrusted weights manifests (item 9a)', () => {
  it('rejects every escaping entry, wherever it sits in the manifest, and leaves the module untouched', async () => {
    const m = mlpProjection({ inDim: 4, hiddenDim: 6, outDim: 3, seed: 1 });
    const dir = fresh();
    await saveWeights(m, dir);
    const manifest = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
    const bin = manifest.weightsManifest[0].paths[0] as string;
    const bytes = readFileSync(path.join(dir, bin));
    const outsideDir = path.join(root, 'outside');
    mkdirSync(outsideDir);
    writeFileSync(path.join(outsideDir, 'w.bin'), bytes); // a valid file: only the path check stops it
    const before = [...m.namedParameters()].map(([, v]) => Array.from(v.dataSync()));
    const evil = [
      './../outside/w.bin',
      'a/b/../../../outside/w.bin',
      'shards/..',
      '..',
      '../',
      'sub\\..\\..\\outside\\w.bin',
      '\\\\server\\share\\w.bin',
      '//server/share/w.bin',
      path.join(outsideDir, 'w.bin'),
      'D:w.bin',
      'https://example.com/w.bin',
      'data:application/octet-stream;base64,AAAA',
      'w.bin\0.png',
    ];
    const rejected: string[] = [];
    for (const p of evil) {
      for (const where of ['first', 'second-path', 'second-group'] as const) {
        const d = fresh();
        mkdirSync(d);
        writeFileSync(path.join(d, bin), bytes);
        const mf = structuredClone(manifest);
        delete mf.contrastream;
        if (where === 'first') mf.weightsManifest[0].paths = [p];
        else if (where === 'second-path') mf.weightsManifest[0].paths = [bin, p];
        else mf.weightsManifest = [mf.weightsManifest[0], { paths: [p], weights: [] }];
        writeFileSync(path.join(d, MODEL_JSON), JSON.stringify(mf));
        const err = await loadWeights(m, d).catch((e: unknown) => e);
        expect(err, `${JSON.stringify(p)} (${where})`).toBeInstanceOf(UnsafePathError);
        expect((err as UnsafePathError).entry).toBe(p);
        expect((err as UnsafePathError).manifest).toContain(d);
        if (where === 'first') rejected.push(`${JSON.stringify(p)}: ${(err as Error).message.split(';')[0].replace(/.*weights path /, '')}`);
      }
      expect(() => resolveManifestPath(root, 'model.json', p)).toThrow(UnsafePathError);
    }
    console.log(`[item 9a] rejected ${evil.length} entries x 3 positions:\n  ${rejected.join('\n  ')}`);
    // a symlinked directory inside the model folder that points outside
    const d = fresh();
    mkdirSync(d);
    symlinkSync(outsideDir, path.join(d, 'shards'));
    const mf = structuredClone(manifest);
    delete mf.contrastream;
    mf.weightsManifest[0].paths = ['shards/w.bin'];
    writeFileSync(path.join(d, MODEL_JSON), JSON.stringify(mf));
    await expect(loadWeights(m, d)).rejects.toThrow(/symbolic link/);
    // ...while a model folder that is itself a link (to a safe folder) loads
    const linked = path.join(root, 'linked-model');
    symlinkSync(dir, linked);
    await expect(loadWeights(m, linked)).resolves.toBeDefined();
    expect([...m.namedParameters()].map(([, v]) => Array.from(v.dataSync()))).toEqual(before);
    m.dispose();
  });
});
