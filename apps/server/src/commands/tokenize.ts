import { createInterface } from 'node:readline';
import { openTokenizer } from '@llm/model/node';
import { CliUsageError } from '../cli-error.js';
import type { tokenizeSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';

/** Reads one JSON string per stdin line; writes one JSON array of token ids per line. */
export async function tokenizeCommand({ values }: ParsedOptions<typeof tokenizeSpec>): Promise<void> {
  if (!values.model && !values.tokenizer) throw new CliUsageError('--model PATH (or --tokenizer PATH) is required');
  const tokenizer = await openTokenizer(values.model, values.tokenizer);
  const addSpecial = values['add-special'];
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    let text: unknown;
    try {
      text = JSON.parse(line);
    } catch {
      throw new CliUsageError(`stdin line ${lineNo} is not JSON; each line must be one JSON string`);
    }
    if (typeof text !== 'string') throw new CliUsageError(`stdin line ${lineNo} is not a JSON string`);
    process.stdout.write(`${JSON.stringify(tokenizer.encode(text, { addSpecial, parseSpecial: false }))}\n`);
  }
}
