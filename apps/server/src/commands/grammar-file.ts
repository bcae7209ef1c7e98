import { readFile } from 'node:fs/promises';
import type { GrammarSpec } from '@llm/engine';
import { CliUsageError } from '../cli-error.js';

/** The grammar of `--json-schema FILE` or `--grammar FILE` (EBNF), or undefined without either. */
export async function grammarOption(values: { 'json-schema'?: string | undefined; grammar?: string | undefined }): Promise<GrammarSpec | undefined> {
  const schemaFile = values['json-schema'];
  const grammarFile = values.grammar;
  if (schemaFile !== undefined && grammarFile !== undefined) {
    throw new CliUsageError('give either --json-schema or --grammar, not both');
  }
  const file = schemaFile ?? grammarFile;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (grammarFile !== undefined) return { type: 'ebnf', grammar: text };
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`--json-schema ${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) {
    throw new CliUsageError(`--json-schema ${file} holds no JSON Schema: a schema is an object`);
  }
  return { type: 'json_schema', schema: schema as Record<string, unknown> | boolean };
}
