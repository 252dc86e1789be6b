import { describe, it, expect } from 'vitest';
import { parseArgs, intFlag, formatFlags, UsageError, type FlagSpec } from '../../src/cli/parseArgs.ts';
import { parseSet } from '../../src/cli/main.ts';

const SPEC: Record<string, FlagSpec> = {
  data: { type: 'string', value: 'PATH', help: 'data' },
  set: { type: 'string', repeat: true, help: 'set' },
  help: { type: 'boolean', help: 'help' },
  epochs: { type: 'string', help: 'epochs' },
};

describe('parseArgs', () => {
  it('reads --flag value, --flag=value, booleans, repeats, positionals and --', () => {
    const r = parseArgs(['simclr', '--data', 'a b', '--set=x=1', '--set', 'y=2', '--help', '--', '--not-a-flag'], SPEC, 'run');
    expect(r.positionals).toEqual(['simclr', '--not-a-flag']);
    expect(r.flags).toEqual({ data: 'a b', set: ['x=1', 'y=2'], help: true });
  });

  it('names unknown options, missing values and values given to booleans', () => {
    expect(() => parseArgs(['--dat', 'x'], SPEC, 'run')).toThrow(new UsageError("run: unknown option '--dat'. Run 'contrastream run --help' for the options."));
    expect(() => parseArgs(['--data'], SPEC, 'run')).toThrow(/option '--data' needs a value/);
    expect(() => parseArgs(['--help=yes'], SPEC, 'eval')).toThrow(/eval: option '--help' takes no value/);
  });

  it('intFlag accepts non-negative integers only and names the option', () => {
    expect(intFlag({ epochs: '3' }, 'epochs', 'run')).toBe(3);
    expect(intFlag({}, 'epochs', 'run')).toBeUndefined();
    for (const bad of ['-1', '1.5', 'two', '']) expect(() => intFlag({ epochs: bad }, 'epochs', 'run')).toThrow(/'--epochs' needs a non-negative integer/);
  });

  it('formatFlags lists every option with its placeholder', () => {
    const text = formatFlags(SPEC);
    expect(text.split('\n')).toHaveLength(4);
    expect(text).toMatch(/--data PATH\s+data/);
    expect(text).toMatch(/--help\s+help/);
  });

  it('parseSet reads JSON values and bare words, and refuses pairs without a key', () => {
    expect(parseSet(['temperature=0.2', 'encoder=resnet18', 'cropScale=[0.3,1]', 'mlpHead=true', 'imageSize=null', 'name="x=y"'])).toEqual({
      temperature: 0.2,
      encoder: 'resnet18',
      cropScale: [0.3, 1],
      mlpHead: true,
      imageSize: null,
      name: 'x=y',
    });
    expect(() => parseSet(['=1'])).toThrow(/--set needs key=value/);
    expect(() => parseSet(['temperature'])).toThrow(/--set needs key=value/);
  });
});
