import { describe, expect, it } from 'vitest';
import { CliUsageError } from '../cli-error.js';
import { formatHelp, parseOptions, type CommandSpec } from './parse-options.js';

const spec = {
  name: 'demo',
  summary: 'A demo command.',
  positionals: ['IN'],
  options: {
    model: { type: 'string', arg: 'PATH', required: true, description: 'the model' },
    count: { type: 'integer', arg: 'N', default: 3, range: { min: 1 }, description: 'how many' },
    scale: { type: 'number', arg: 'X', range: { min: 0, max: 1, minExclusive: true }, description: 'a fraction' },
    mode: { type: 'choice', choices: ['a', 'b'], default: 'a', description: 'which mode' },
    loud: { type: 'boolean', description: 'be loud' },
  },
} as const satisfies CommandSpec;

function refusal(args: string[]): string {
  try {
    parseOptions(spec, args);
  } catch (error) {
    expect(error).toBeInstanceOf(CliUsageError);
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('parseOptions', () => {
  it('fills defaults and converts values to their declared types', () => {
    const parsed = parseOptions(spec, ['in.bin', '--model', 'm.gguf', '--count=7', '--loud']);
    expect(parsed).toEqual({
      values: { model: 'm.gguf', count: 7, scale: undefined, mode: 'a', loud: true },
      positionals: ['in.bin'],
    });
  });

  it('gives a negative number after a space the range message', () => {
    expect(refusal(['x', '--model', 'm', '--count', '-5'])).toBe('--count must be an integer >= 1, got -5');
    expect(refusal(['x', '--model', 'm', '--scale', '-1'])).toBe('--scale must be a number in (0, 1], got -1');
    expect(refusal(['x', '--model', 'm', '--count', '2.5'])).toBe('--count must be an integer >= 1, got 2.5');
  });

  it('refuses unknown options, values outside the choices, missing values and arguments', () => {
    expect(refusal(['x', '--model', 'm', '--bogus'])).toMatch(/unknown option '--bogus'/);
    expect(refusal(['x', '--model', 'm', '--mode', 'c'])).toBe("--mode must be a or b, got 'c'");
    expect(refusal(['x', '--model'])).toBe('--model expects a value: --model PATH');
    expect(refusal(['x'])).toBe('--model PATH is required');
    expect(refusal(['--model', 'm'])).toBe('expects IN, got 0 arguments');
    expect(refusal(['x', '--model', 'm', '--loud=yes'])).toBe('--loud takes no value');
  });

  it('asks for help on -h or --help, and treats what follows -- as arguments', () => {
    expect(parseOptions(spec, ['--bogus-later', '-h'])).toBe('help');
    expect(parseOptions(spec, ['--help'])).toBe('help');
    expect(parseOptions(spec, ['--model', 'm', '--', '--help'])).toMatchObject({ positionals: ['--help'] });
  });
});

describe('formatHelp', () => {
  it('describes every option with its range, default or requirement', () => {
    const help = formatHelp(spec);
    expect(help).toMatch(/^usage: llm demo IN --model PATH \[options\]\n/);
    expect(help).toMatch(/--model PATH +the model \(required\)/);
    expect(help).toMatch(/--count N +how many \(>= 1; default: 3\)/);
    expect(help).toMatch(/--scale X +a fraction \(in \(0, 1\]\)/);
    expect(help).toMatch(/--mode a\|b +which mode \(default: a\)/);
    expect(help).toMatch(/--loud +be loud\n/);
    expect(help).toMatch(/-h, --help +show this help\n$/);
  });
});
