import { BatchShapeError, KvPoolError } from '@llm/model';
import { ModelFileError } from '@llm/formats';
import { TokenizerError } from '@llm/tokenizer';
import { EngineRequestError } from '@llm/engine';
import { KvCacheError } from '@llm/kvcache';
import { GpuUnavailableError, GpuLimitError } from '@llm/kernels';
import { ZodError } from 'zod';
import { CliUsageError } from './cli-error.js';

const USAGE = `usage: llm <command> [options]

commands:
  generate --model PATH [--tokenizer PATH] [--prompt TEXT | --prompt-ids 1,2,3] [--max-tokens N]
           [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S]
           [--backend auto|webgpu|cpu] [--kv-dtype f32|f16] [--json]
  tokenize --model PATH [--tokenizer PATH] [--add-special]   (stdin: one JSON string per line)
  convert IN OUT [--tokenizer PATH] [--type f32|f16]
  info PATH`;

type Command = (args: string[]) => Promise<void>;

// Loaded on demand: `tokenize` and `info` need not pay for the GPU runtime's start-up.
const commands: Record<string, () => Promise<Command>> = {
  generate: async () => (await import('./commands/generate.js')).generateCommand,
  tokenize: async () => (await import('./commands/tokenize.js')).tokenizeCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  info: async () => (await import('./commands/info.js')).infoCommand,
};

/** Runs one CLI command; returns the exit code (0 ok, 2 bad input, 1 internal failure). */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stderr.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`llm: unknown command '${name}'\n${USAGE}\n`);
    return 2;
  }
  try {
    const command = await load();
    await command(rest);
    return 0;
  } catch (error) {
    if (isBadInput(error)) {
      process.stderr.write(`llm ${name}: ${oneLine(error)}\n`);
      return 2;
    }
    process.stderr.write(`llm ${name}: internal error: ${oneLine(error)}\n`);
    if (process.env['LLM_DEBUG'] && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

function isBadInput(error: unknown): boolean {
  return (
    error instanceof CliUsageError ||
    error instanceof ModelFileError ||
    error instanceof KvPoolError ||
    error instanceof BatchShapeError ||
    error instanceof TokenizerError ||
    error instanceof EngineRequestError ||
    error instanceof KvCacheError ||
    error instanceof GpuUnavailableError ||
    error instanceof GpuLimitError ||
    error instanceof ZodError ||
    isMissingFile(error)
  );
}

function isMissingFile(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'EACCES';
}

function oneLine(error: unknown): string {
  if (error instanceof ZodError) {
    return error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ');
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
