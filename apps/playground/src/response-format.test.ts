import { describe, expect, it } from 'vitest';
import type { SamplingSettings } from './protocol.js';
import { grammarOf, responseFormatBody } from './response-format.js';

const base: SamplingSettings = { temperature: 1, topP: 1, topK: 0, minP: 0, maxTokens: 64, seed: 3, responseFormat: 'text', jsonSchema: '' };
const schema = { type: 'object', properties: { a: { type: 'integer' } } };

describe('reply formats', () => {
  it('asks for nothing with free text', () => {
    expect(grammarOf(base)).toBeUndefined();
    expect(responseFormatBody(base)).toBeUndefined();
  });

  it("maps a schema to the engine's grammar and to OpenAI's response_format", () => {
    const settings = { ...base, responseFormat: 'json_schema' as const, jsonSchema: JSON.stringify(schema) };
    expect(grammarOf(settings)).toEqual({ type: 'json_schema', schema });
    expect(responseFormatBody(settings)).toEqual({ type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } });
    expect(grammarOf({ ...base, responseFormat: 'json_object' })).toEqual({ type: 'json_object' });
  });

  it('names what is wrong with a schema that is not a JSON object', () => {
    expect(() => grammarOf({ ...base, responseFormat: 'json_schema', jsonSchema: '{"type": ' })).toThrow(/the JSON Schema is not JSON/);
    expect(() => responseFormatBody({ ...base, responseFormat: 'json_schema', jsonSchema: '[1]' })).toThrow(/must be a JSON object/);
  });
});
