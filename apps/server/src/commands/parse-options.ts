import { CliUsageError } from '../cli-error.js';

/** A number option's accepted range; bounds are inclusive unless marked exclusive. */
export interface NumberRange {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

interface OptionBase {
  description: string;
  /** How the help shows the default when it is not a literal value (e.g. 'random'). */
  defaultText?: string;
}

export type OptionSpec =
  | (OptionBase & { type: 'boolean' })
  | (OptionBase & { type: 'string'; arg: string; default?: string; required?: boolean })
  | (OptionBase & { type: 'choice'; choices: readonly [string, ...string[]]; default: string })
  | (OptionBase & { type: 'number' | 'integer'; arg: string; default?: number; range: NumberRange });

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments as the usage line shows them, e.g. ['IN', 'OUT']; all are required. */
  positionals?: readonly string[];
  options: Readonly<Record<string, OptionSpec>>;
  /** Extra lines under the option table. */
  notes?: readonly string[];
}

type OptionValue<O extends OptionSpec> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : O extends { type: 'number' | 'integer' }
      ? O extends { default: number } ? number : number | undefined
      : O extends { default: string } | { required: true } ? string : string | undefined;

export type ParsedOptions<S extends CommandSpec> = {
  values: { -readonly [K in keyof S['options']]: OptionValue<S['options'][K]> };
  positionals: string[];
};

export type ParseResult<S extends CommandSpec> = ParsedOptions<S> | 'help';

/**
 * Parses a command's arguments against its declaration. An option that takes a value takes the
 * next argument whatever it starts with, so `--temperature -1` reaches the range check below
 * (node:util parseArgs refuses it as ambiguous); `--name=value` works too.
 */
export function parseOptions<S extends CommandSpec>(spec: S, args: readonly string[]): ParseResult<S> {
  const raw = new Map<string, string | true>();
  const positionals: string[] = [];
  // Help wins over any mistake beside it, so the first problem waits until the scan is done.
  let help = false;
  let problem: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? arg.slice(2, eq < 0 ? undefined : eq) : '';
    const option = spec.options[name];
    if (!option) {
      problem ??= `unknown option '${eq < 0 ? arg : arg.slice(0, eq)}' (llm ${spec.name} --help lists the options)`;
    } else if (option.type === 'boolean') {
      if (eq >= 0) problem ??= `--${name} takes no value`;
      raw.set(name, true);
    } else if (eq >= 0) {
      raw.set(name, arg.slice(eq + 1));
    } else if (i + 1 < args.length) {
      raw.set(name, args[++i]!);
    } else {
      problem ??= `--${name} expects a value: --${name} ${argName(option)}`;
    }
  }
  if (help) return 'help';
  if (problem !== undefined) throw new CliUsageError(problem);
  const expected = spec.positionals ?? [];
  if (positionals.length !== expected.length) {
    throw new CliUsageError(
      expected.length === 0
        ? `unexpected argument '${positionals[0]}'`
        : `expects ${expected.join(' ')}, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`,
    );
  }
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    values[name] = convert(name, option, raw.get(name));
  }
  return { values, positionals } as ParsedOptions<S>;
}

function convert(name: string, option: OptionSpec, value: string | true | undefined): unknown {
  if (option.type === 'boolean') return value === true;
  if (value === undefined || value === true) {
    if (option.type === 'string' && option.required) throw new CliUsageError(`--${name} ${option.arg} is required`);
    return option.default;
  }
  switch (option.type) {
    case 'string':
      return value;
    case 'choice':
      if (!option.choices.includes(value)) throw new CliUsageError(`--${name} must be ${orList(option.choices)}, got '${value}'`);
      return value;
    case 'number':
    case 'integer': {
      const n = Number(value);
      const integer = option.type === 'integer';
      if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || !inRange(n, option.range)) {
        throw new CliUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ${rangeText(option.range)}, got ${value}`);
      }
      return n;
    }
  }
}

function inRange(n: number, r: NumberRange): boolean {
  if (r.min !== undefined && (r.minExclusive ? n <= r.min : n < r.min)) return false;
  if (r.max !== undefined && (r.maxExclusive ? n >= r.max : n > r.max)) return false;
  return true;
}

function rangeText(r: NumberRange): string {
  if (r.min !== undefined && r.max !== undefined) {
    return `in ${r.minExclusive ? '(' : '['}${r.min}, ${r.max}${r.maxExclusive ? ')' : ']'}`;
  }
  if (r.min !== undefined) return `${r.minExclusive ? '>' : '>='} ${r.min}`;
  if (r.max !== undefined) return `${r.maxExclusive ? '<' : '<='} ${r.max}`;
  return '';
}

function orList(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function argName(option: OptionSpec): string {
  if (option.type === 'boolean') return '';
  return option.type === 'choice' ? option.choices.join('|') : option.arg;
}

function defaultText(option: OptionSpec): string | undefined {
  if (option.defaultText !== undefined) return option.defaultText;
  if (option.type === 'boolean' || option.default === undefined) return undefined;
  return String(option.default);
}

/** A command's help, generated from the same declaration the parser reads. */
export function formatHelp(spec: CommandSpec): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, option]) => {
    const arg = argName(option);
    const range = option.type === 'number' || option.type === 'integer' ? rangeText(option.range) : '';
    const dflt = defaultText(option);
    const required = option.type === 'string' && option.required;
    const details = [range, required ? 'required' : dflt === undefined ? '' : `default: ${dflt}`].filter(Boolean);
    return [`--${name}${arg ? ` ${arg}` : ''}`, `${option.description}${details.length ? ` (${details.join('; ')})` : ''}`];
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = [
    `usage: llm ${usageLine(spec)}`,
    '',
    spec.summary,
    '',
    'options:',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
  ];
  if (spec.notes?.length) lines.push('', ...spec.notes);
  return `${lines.join('\n')}\n`;
}

/** `generate --model PATH [options]`: positionals and required options, the rest summed up. */
export function usageLine(spec: CommandSpec): string {
  const required = Object.entries(spec.options)
    .filter(([, o]) => o.type === 'string' && o.required)
    .map(([name, o]) => `--${name} ${argName(o)}`);
  const optional = Object.values(spec.options).some((o) => !(o.type === 'string' && o.required));
  return [spec.name, ...(spec.positionals ?? []), ...required, ...(optional ? ['[options]'] : [])].join(' ');
}
