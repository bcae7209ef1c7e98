import { readFile } from 'node:fs/promises';
import type { LlamaConfig } from '@llm/formats';
import { fileSystemError } from '@llm/formats/node';
import type { Tokenizer } from '@llm/tokenizer';
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';
import { CliUsageError } from '../cli-error.js';
import { capToContext } from './create-runner.js';

// zod/mini registers no locale; per parse, so that the host's zod configuration is left alone.
const englishMessages = en().localeError;

// Every problem of a file is found before any is reported; this many are spelled out, the rest
// counted, so one run shows what to fix without burying the terminal.
const MAX_PROBLEMS_SHOWN = 5;

/** One line of a --batch-file: a request, with per-line values that override the flags. */
export const batchLineSchema = z
  .strictObject({
    /** Prompt text, encoded with the tokenizer's special tokens as --prompt is. */
    prompt: z.optional(z.string()),
    /** Prompt token ids, used verbatim as --prompt-ids are. */
    promptIds: z.optional(z.array(z.int().check(z.gte(0)))),
    maxTokens: z.optional(z.int().check(z.positive())),
    // The engine's sampling streams take 32-bit seeds.
    seed: z.optional(z.int().check(z.gte(0), z.lte(2 ** 32 - 1))),
  })
  .check(
    z.refine((line) => (line.prompt === undefined) !== (line.promptIds === undefined), {
      message: 'give exactly one of "prompt" (text) and "promptIds" (token ids)',
    }),
  );

export type BatchLine = z.output<typeof batchLineSchema> & {
  /** 1-based line number in the file, for messages. */
  readonly lineNo: number;
};

/** A line made ready to submit: prompt tokenized and checked, maxTokens and seed resolved. */
export interface BatchRequest {
  readonly lineNo: number;
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly seed: number;
}

export interface BatchDefaults {
  /** --max-tokens. */
  readonly maxTokens: number;
  /** --seed; without it each line without a seed gets a random one. */
  readonly seed: number | undefined;
}

/**
 * Reads and validates every line of a JSONL batch file (empty lines are skipped). Throws a
 * CliUsageError naming each malformed line, or when the file holds no request.
 */
export async function readBatchFile(path: string): Promise<BatchLine[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const known = fileSystemError(error, path);
    if (known === error) throw error;
    throw new CliUsageError(`--batch-file ${(known as Error).message}`);
  }
  const lines: BatchLine[] = [];
  const problems: string[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const lineNo = i + 1;
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      problems.push(`line ${lineNo}: not JSON (${(error as Error).message})`);
      continue;
    }
    const parsed = batchLineSchema.safeParse(value, { error: englishMessages });
    if (parsed.success) lines.push({ ...parsed.data, lineNo });
    else problems.push(`line ${lineNo}: ${issuesText(parsed.error)}`);
  }
  if (problems.length > 0) throw batchFileError(path, problems);
  if (lines.length === 0) {
    throw new CliUsageError(`--batch-file ${path} holds no request: write one JSON object per line`);
  }
  return lines;
}

/**
 * Tokenizes every line and checks it against the model (ids inside the vocabulary, the prompt
 * inside the context) before anything is generated; then caps maxTokens at what the context
 * leaves, with a warning per capped line, and gives every line its seed.
 */
export function resolveBatchRequests(
  path: string,
  lines: readonly BatchLine[],
  tokenizer: Tokenizer,
  config: Pick<LlamaConfig, 'vocabSize' | 'contextLength'>,
  defaults: BatchDefaults,
): BatchRequest[] {
  const { vocabSize, contextLength } = config;
  const problems: string[] = [];
  const prompts = lines.map((line) => {
    const ids = line.promptIds ?? tokenizer.encode(line.prompt!, { addSpecial: true });
    const where = `line ${line.lineNo}`;
    const outside = ids.find((id) => id >= vocabSize);
    if (ids.length === 0) {
      problems.push(`${where}: the prompt is empty (this tokenizer adds no BOS): give at least one token`);
    } else if (outside !== undefined) {
      problems.push(`${where}: prompt token id ${outside} is outside the vocabulary (0..${vocabSize - 1})`);
    } else if (ids.length >= contextLength) {
      problems.push(
        `${where}: the prompt has ${ids.length} tokens but the model's context holds ${contextLength}; shorten it`,
      );
    }
    return ids;
  });
  if (problems.length > 0) throw batchFileError(path, problems);
  return lines.map((line, i) => {
    const promptIds = prompts[i]!;
    const asked = line.maxTokens ?? defaults.maxTokens;
    const subject = `line ${line.lineNo}: ${line.maxTokens === undefined ? '--max-tokens' : 'maxTokens'} ${asked}`;
    return {
      lineNo: line.lineNo,
      promptIds,
      maxTokens: capToContext(asked, promptIds.length, contextLength, subject),
      seed: line.seed ?? defaults.seed ?? Math.floor(Math.random() * 2 ** 31),
    };
  });
}

function issuesText(error: z.core.$ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    .join('; ');
}

function batchFileError(path: string, problems: readonly string[]): CliUsageError {
  const shown = problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ');
  const more =
    problems.length > MAX_PROBLEMS_SHOWN ? `; and ${problems.length - MAX_PROBLEMS_SHOWN} more` : '';
  return new CliUsageError(`--batch-file ${path}: ${shown}${more}; nothing was generated`);
}
