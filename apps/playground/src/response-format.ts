import type { GrammarSpec } from '@llm/engine';
import type { SamplingSettings } from './protocol.js';

/** The schema text as JSON; the message names what is wrong with it. */
function parsedSchema(text: string): Record<string, unknown> {
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    throw new Error(`the JSON Schema is not JSON: ${(error as Error).message}`);
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error('the JSON Schema must be a JSON object');
  return schema as Record<string, unknown>;
}

/** The grammar the in-browser engine enforces for the chosen reply format (none for free text). */
export function grammarOf(settings: SamplingSettings): GrammarSpec | undefined {
  switch (settings.responseFormat) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      return { type: 'json_schema', schema: parsedSchema(settings.jsonSchema) };
  }
}

/** OpenAI's `response_format` for the chosen reply format (none for free text). */
export function responseFormatBody(settings: SamplingSettings): Record<string, unknown> | undefined {
  switch (settings.responseFormat) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      return { type: 'json_schema', json_schema: { name: 'reply', schema: parsedSchema(settings.jsonSchema), strict: true } };
  }
}
