/**
 * Flag parsing shared by every command: GOption-style long flags (`--repo=R` or `--repo R`),
 * short aliases, repeatable flags. Unknown flags are usage errors (exit 2), as in the real tools.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function parse(argv: string[], options: Options): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
}

export const str = (p: Parsed, name: string): string | undefined => {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
};

export const strs = (p: Parsed, name: string): string[] => {
  const v = p.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
};

export const flag = (p: Parsed, name: string): boolean => p.values[name] === true;

/** The value of `--NAME` as a positive whole number; undefined when the flag is absent. */
export function positiveInt(p: Parsed, name: string): number | undefined {
  const text = str(p, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} takes a positive whole number, not "${text}"`);
  return n;
}

/** The positional at `index`, or a usage error naming what is missing. */
export function required(p: Parsed, index: number, what: string): string {
  const v = p.positionals[index];
  if (v === undefined) throw new UsageError(`${what} must be specified`);
  return v;
}
