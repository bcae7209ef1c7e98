import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliUsageError } from '../cli-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with its errors turned into usage errors (exit code 2). */
export function parseOptions<T extends Options>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new CliUsageError(error instanceof Error ? error.message : String(error));
  }
}

export function numberOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new CliUsageError(`--${name} expects a number, got '${value}'`);
  return n;
}

export function intOption(name: string, value: string | undefined, fallback: number, min = 0): number {
  const n = numberOption(name, value, fallback);
  if (!Number.isInteger(n) || n < min) throw new CliUsageError(`--${name} expects an integer >= ${min}, got '${value}'`);
  return n;
}
