/**
 * Issue 7 item 9c: declarative pipeline files (.json / .yaml) are validated against a schema
 * (unknown keys, wrong types, out-of-range values are named by key path) and never executed:
 * YAML code tags, alias bombs, prototype keys and module paths do nothing but fail validation.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefinitionError, parseDefinitionText, readDefinitionFile, configProblems } from '../../src/cli/definitionSchema.ts';
import { resolvePipeline } from '../../src/cli/resolvePipeline.ts';
import { loadBuiltin } from '../../src/cli/pipelines.ts';
import { main } from '../../src/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'cs-decl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const builtinDefaults = async (name: string) => (await loadBuiltin(name))?.defaults;

async function problemsOf(path: string): Promise<string[]> {
  try {
    await readDefinitionFile(path, builtinDefaults);
  } catch (err) {
    expect(err).toBeInstanceOf(DefinitionError);
    return (err as DefinitionError).problems;
  }
  throw new Error(`expected ${path} to be rejected`);
}

describe('declarative pipeline files: schema', () => {
  it('accepts a valid YAML and JSON file and resolves paths against the file', async () => {
    const y = file(
      'ok.yaml',
      'pipeline: moco\ndata: ./imgs\nepochs: 3\nseed: 7\nbackend: cpu\nout: runs/a\ncheckpointEvery: 10\nconfig:\n  temperature: 0.2\n  queueSize: 1024\n  cropScale: [0.3, 1]\n  mlpHead: true\n',
    );
    const d = await readDefinitionFile(y, builtinDefaults);
    expect(d).toMatchObject({ pipeline: 'moco', epochs: 3, seed: 7, backend: 'cpu', checkpointEvery: 10, data: join(dir, 'imgs'), out: join(dir, 'runs/a') });
    expect(d.config).toEqual({ temperature: 0.2, queueSize: 1024, cropScale: [0.3, 1], mlpHead: true });
    const j = file('ok.json', JSON.stringify({ pipeline: 'simclr', batchSize: 64, config: { encoder: 'resnet18', imageSize: 32 } }));
    const r = await resolvePipeline(j);
    expect(r.kind).toBe('declarative');
    expect(r.ref).toBe('simclr');
    expect(r.def.name).toBe('simclr');
    expect(r.file?.batchSize).toBe(64);
  });

  it('names unknown keys, wrong types and out-of-range values by key path', async () => {
    const p = file(
      'bad.yaml',
      [
        'pipeline: simclr',
        'epochs: 0',
        'seed: -1',
        'backend: tpu',
        'learningRate: 3',
        'config:',
        '  temperature: -0.5',
        '  batchSize: 12.5',
        '  encoder: vgg',
        '  momentum: 1.5',
        '  cropScale: [0.8, 0.2]',
        '  lr: "fast"',
        '  temprature: 0.1',
        '  imageSize: [32]',
        '',
      ].join('\n'),
    );
    const problems = await problemsOf(p);
    const has = (re: RegExp) => expect(problems.some((m) => re.test(m)), `${re} in\n${problems.join('\n')}`).toBe(true);
    has(/^epochs: must be >= 1, got 0/);
    has(/^seed: must be in \[0, \d+\], got -1/);
    has(/^backend: must be one of .*'wasm'.*got 'tpu'/);
    has(/^learningRate: unknown key/);
    has(/^config\.temperature: must be > 0, got -0\.5/);
    has(/^config\.batchSize: must be an integer, got 12\.5/);
    has(/^config\.encoder: must be one of 'convnet6', 'resnet18', 'resnet50', got 'vgg'/);
    has(/^config\.momentum: must be in \[0, 1\), got 1\.5/);
    has(/^config\.cropScale: must be \[min, max\] with 0 < min <= max <= 1/);
    has(/^config\.lr: must be a finite number, got 'fast'/);
    has(/^config\.temprature: unknown key\. Known keys: .*temperature/);
    has(/^config\.imageSize: must be an integer, got \[32\]/);
    expect(problems).toHaveLength(12);
  });

  it('checks keys without a rule by the type of their default (any pipeline)', () => {
    const defaults = { name: 'x', ratio: 0.5, flag: false, tags: ['a'], nested: { depth: 2 }, maybe: null };
    expect(configProblems({ name: 3, ratio: 'a', flag: 'yes', tags: ['b', 4], nested: { depth: 'deep', extra: 1 }, maybe: { a: 1 } }, defaults)).toEqual([
      "config.name: must be a string, got 3",
      "config.ratio: must be a finite number, got 'a'",
      "config.flag: must be a boolean, got 'yes'",
      'config.tags[1]: must be a string, got 4',
      "config.nested.depth: must be a finite number, got 'deep'",
      'config.nested.extra: unknown key. Known keys: depth',
      'config.maybe: must be null, a number, a string or a boolean, got object',
    ]);
    expect(configProblems({ name: 'y', ratio: 2, flag: true, tags: [], nested: { depth: 1 }, maybe: 3 }, defaults)).toEqual([]);
  });

  it('requires pipeline, rejects non-built-in names and non-mapping files', async () => {
    expect(await problemsOf(file('nopipe.json', '{"epochs": 2}'))).toContain("pipeline: missing. Name a built-in pipeline, e.g. 'pipeline: simclr'");
    expect((await problemsOf(file('list.yaml', '- 1\n- 2\n')))[0]).toMatch(/must be a mapping/);
    expect((await problemsOf(file('badjson.json', '{"pipeline": "simclr",}')))[0]).toMatch(/not valid JSON/);
    expect((await problemsOf(file('dup.yaml', 'pipeline: simclr\npipeline: moco\n')))[0]).toMatch(/unique|duplicate/i);
    expect((await problemsOf(file('conflict.json', '{"pipeline":"simclr","batchSize":64,"config":{"batchSize":32}}')))[0]).toMatch(/^batchSize: 64 disagrees with config.batchSize 32/);
  });
});

describe('declarative pipeline files: never executed', () => {
  it('a module path named in a file is rejected without importing it', async () => {
    const marker = join(dir, 'imported.marker');
    const evil = file('evil.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'x'); export default {};`);
    for (const name of [evil, './evil.mjs', 'node:child_process', 'data:text/javascript,globalThis.__pwned=1']) {
      const problems = await problemsOf(file('mod.json', JSON.stringify({ pipeline: name })));
      expect(problems[0]).toMatch(/is not a built-in pipeline/);
    }
    expect(existsSync(marker)).toBe(false);
    expect((globalThis as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('YAML code tags are errors, not functions', async () => {
    const marker = join(dir, 'tag.marker');
    for (const tag of ['!!js/function', '!!js/eval', '!!python/object/apply:os.system', '!<tag:yaml.org,2002:js/function>']) {
      const p = file('tag.yaml', `pipeline: simclr\nconfig:\n  temperature: ${tag} "function(){ require('fs').writeFileSync('${marker}','x'); return 0.1 }"\n`);
      const problems = await problemsOf(p);
      expect(problems.join('\n')).toMatch(/tag/i);
    }
    // Even parsed without validation, such a value never becomes a function.
    expect(() => parseDefinitionText('a: !!js/function "function(){}"', 'yaml', 'x.yaml')).toThrow(DefinitionError);
    expect(existsSync(marker)).toBe(false);
  });

  it('an alias bomb is refused quickly instead of expanding', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [${new Array(10).fill(`*${prev}`).join(',')}]`);
    }
    lines.push('pipeline: simclr');
    const t0 = performance.now();
    const problems = await problemsOf(file('bomb.yaml', lines.join('\n') + '\n'));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(problems.join('\n')).toMatch(/alias/i);
  });

  it('merge keys are not interpreted, and prototype keys are plain unknown keys', async () => {
    const merge = await problemsOf(file('merge.yaml', 'base: &b { temperature: 0.1 }\npipeline: simclr\nconfig:\n  <<: *b\n'));
    expect(merge.join('\n')).toMatch(/config\.<<: unknown key|^base: unknown key/m);
    const proto = await problemsOf(file('proto.json', '{"pipeline":"simclr","__proto__":{"polluted":1},"config":{"constructor":{"x":1},"__proto__":{"temperature":0.1}}}'));
    expect(proto).toEqual(expect.arrayContaining([expect.stringMatching(/^__proto__: unknown key/), expect.stringMatching(/^config\.constructor: unknown key/), expect.stringMatching(/^config\.__proto__: unknown key/)]));
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
    const protoYaml = await problemsOf(file('proto.yaml', 'pipeline: toString\n'));
    expect(protoYaml[0]).toMatch(/'toString' is not a built-in pipeline/);
  });

  it('refuses oversized files and other extensions', async () => {
    const big = file('big.json', `{"pipeline":"simclr","data":"${'x'.repeat(1100_000)}"}`);
    expect((await problemsOf(big))[0]).toMatch(/larger than the \d+-byte limit/);
    await expect(readDefinitionFile(file('x.toml', 'pipeline = "simclr"'), builtinDefaults)).rejects.toThrow(/ends in \.json, \.yaml or \.yml/);
  });

  it('the CLI reports schema errors with exit code 2 and the key path, before any training', async () => {
    const p = file('cli.yaml', 'pipeline: simclr\nconfig:\n  temperature: 0\n');
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await main(['run', p, '--out', join(dir, 'never')]);
    } finally {
      process.stderr.write = write;
    }
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/config\.temperature: must be > 0, got 0/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});
