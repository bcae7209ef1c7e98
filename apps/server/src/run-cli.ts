import { errorCodeOf } from '@llm/quant';
import { isFilteredChild, runWithDawnWarningsHidden } from './dawn-warnings.js';
import {
  commandSpecs,
  convertSpec,
  generateSpec,
  infoSpec,
  kldSpec,
  pplSpec,
  quantizeSpec,
  serveSpec,
  tokenizeSpec,
} from './commands/command-specs.js';
import {
  formatHelp,
  parseOptions,
  usageLine,
  type CommandSpec,
  type ParsedOptions,
} from './commands/parse-options.js';

interface Command {
  spec: CommandSpec;
  /** Returns the exit code. */
  run(args: string[]): Promise<number>;
}

/**
 * Binds a declaration to its implementation, loaded on demand so `info` never pays for the GPU
 * runtime. A command that starts Dawn runs, once its options parse, in a child process whose
 * stderr is filtered (see dawn-warnings.ts).
 */
function command<S extends CommandSpec>(
  spec: S,
  load: () => Promise<(parsed: ParsedOptions<S>) => Promise<void>>,
  { startsDawn = false } = {},
): Command {
  return {
    spec,
    run: async (args) => {
      const parsed = parseOptions(spec, args);
      if (parsed === 'help') process.stdout.write(formatHelp(spec));
      else if (startsDawn && !isFilteredChild()) return runWithDawnWarningsHidden([spec.name, ...args]);
      else await (await load())(parsed);
      return 0;
    },
  };
}

const commands: Record<string, Command> = {
  generate: command(generateSpec, async () => (await import('./commands/generate.js')).generateCommand, {
    startsDawn: true,
  }),
  serve: command(serveSpec, async () => (await import('./commands/serve.js')).serveCommand, {
    startsDawn: true,
  }),
  tokenize: command(tokenizeSpec, async () => (await import('./commands/tokenize.js')).tokenizeCommand),
  convert: command(convertSpec, async () => (await import('./commands/convert.js')).convertCommand),
  quantize: command(quantizeSpec, async () => (await import('./commands/quantize.js')).quantizeCommand),
  ppl: command(pplSpec, async () => (await import('./commands/ppl.js')).pplCommand, { startsDawn: true }),
  kld: command(kldSpec, async () => (await import('./commands/kld.js')).kldCommand, { startsDawn: true }),
  info: command(infoSpec, async () => (await import('./commands/info.js')).infoCommand),
};

function usage(): string {
  const width = Math.max(...commandSpecs.map((s) => s.name.length)) + 2;
  return [
    'usage: llm <command> [options]',
    '',
    'commands:',
    ...commandSpecs.map((s) => `  ${s.name.padEnd(width)}${s.summary}`),
    '',
    ...commandSpecs.map((s) => `  llm ${usageLine(s)}`),
    '',
    "Run 'llm <command> --help' for a command's options and their defaults.",
    'Stdout carries only results; logs, warnings and progress go to stderr.',
    'Exit code 0 on success, 2 on bad input, 1 on an internal failure.',
    '',
  ].join('\n');
}

/** Runs one CLI command; returns the exit code (0 ok, 2 bad input, 1 internal failure). */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    process.stdout.write(usage());
    return 0;
  }
  if (name === 'help') return runCli([rest[0]!, '--help']);
  if (name === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`llm: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  try {
    return await entry.run(rest);
  } catch (error) {
    const code = exitCode(error);
    const prefix = code === 2 ? `llm ${name}` : `llm ${name}: internal error`;
    process.stderr.write(`${prefix}: ${oneLine(error)}\n`);
    if (code === 1 && process.env['LLM_DEBUG'] && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`);
    }
    return code;
  }
}

/**
 * 2 for bad input the user can fix (any coded error but `internal`: a bad file or option, a missing
 * file, an unsupported model, an exhausted budget, no WebGPU adapter), 1 for anything else: the
 * one place errors map to exit codes.
 */
function exitCode(error: unknown): 1 | 2 {
  return errorCodeOf(error) === 'internal' ? 1 : 2;
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
