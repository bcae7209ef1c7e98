import { describe, expect, it } from 'vitest';
import { commandSpecs } from './commands/command-specs.js';
import { runLlm } from './run-llm.test-support.js';

describe('llm --help', () => {
  for (const flag of ['--help', '-h', 'help']) {
    it(`llm ${flag} prints the usage of every command on stdout and exits 0`, async () => {
      const run = await runLlm([flag]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^usage: llm <command>/);
      for (const spec of commandSpecs) expect(run.stdout).toContain(`llm ${spec.name} `);
    });
  }

  for (const spec of commandSpecs) {
    for (const flag of ['--help', '-h']) {
      it(`llm ${spec.name} ${flag} describes every option with its default on stdout`, async () => {
        const run = await runLlm([spec.name, flag]);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toBe('');
        expect(run.stdout).toMatch(new RegExp(`^usage: llm ${spec.name}`));
        for (const [name, option] of Object.entries(spec.options)) {
          const line = run.stdout.split('\n').find((l) => l.startsWith(`  --${name} `));
          expect(line, `--${name}`).toBeDefined();
          if (option.type === 'boolean') continue;
          const dflt = option.defaultText ?? ('default' in option ? option.default : undefined);
          if (dflt !== undefined) expect(line).toContain(`default: ${dflt}`);
        }
      });
    }
  }

  it('llm help generate is llm generate --help', async () => {
    const [a, b] = await Promise.all([runLlm(['help', 'generate']), runLlm(['generate', '--help'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('llm with no command prints the usage on stderr and exits 2', async () => {
    const run = await runLlm([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^usage: llm <command>/);
  });

  it('llm with an unknown command names it, prints the usage on stderr and exits 2', async () => {
    const run = await runLlm(['genrate']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^llm: unknown command 'genrate'\nusage: llm <command>/);
  });
});

describe('llm option values', () => {
  it('gives a negative number after a space the range message, not a parser error', async () => {
    for (const [flag, message] of [
      ['--max-tokens', '--max-tokens must be an integer >= 1, got -5'],
      ['--temperature', '--temperature must be a number >= 0, got -5'],
      ['--top-k', '--top-k must be an integer >= 0, got -5'],
    ]) {
      const run = await runLlm(['generate', '--model', 'any.gguf', flag!, '-5']);
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(`llm generate: ${message}\n`);
    }
  });
});
