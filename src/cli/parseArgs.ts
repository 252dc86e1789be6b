/**
 * A small, strict argument parser for the CLI: `--flag value`, `--flag=value`, boolean
 * `--flag`, repeatable flags and positionals. Unknown flags are an error naming the flag.
 */
import { ContrastreamError } from '../errors.ts';

export class UsageError extends ContrastreamError {}

export interface FlagSpec {
  /** 'string' takes a value, 'boolean' does not. */
  type: 'string' | 'boolean';
  /** May be given more than once (values collected in order). */
  repeat?: boolean;
  /** One-line help. */
  help: string;
  /** Placeholder shown in help, e.g. 'N'. */
  value?: string;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | boolean | string[]>;
}

export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>, command: string): ParsedArgs {
  const positionals: string[] = [];
  const flags: ParsedArgs['flags'] = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const s = spec[name];
    if (s === undefined) {
      throw new UsageError(`${command}: unknown option '--${name}'. Run 'contrastream ${command} --help' for the options.`);
    }
    let value: string | boolean;
    if (s.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`${command}: option '--${name}' takes no value`);
      value = true;
    } else if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`${command}: option '--${name}' needs a value`);
      value = argv[++i];
    }
    if (s.repeat) {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), String(value)];
    } else {
      flags[name] = value;
    }
  }
  return { positionals, flags };
}

/** Formats the options of a command for `--help`. */
export function formatFlags(spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => [`--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`, s.help]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`).join('\n');
}

/** Reads a positive integer flag, naming it in the error. */
export function intFlag(flags: ParsedArgs['flags'], name: string, command: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${command}: option '--${name}' needs a non-negative integer, got '${String(v)}'`);
  }
  return n;
}
