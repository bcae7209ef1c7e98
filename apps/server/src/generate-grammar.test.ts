import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFile } from '@llm/formats/testing';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLlm } from './run-llm.test-support.js';

const gguf = modelFile('stories260K.gguf');

const SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 1, maximum: 9 }, happy: { type: 'boolean' } },
  required: ['name', 'age', 'happy'],
};

describe.skipIf(!gguf)('llm generate --json-schema / --grammar on stories260K', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'llm-grammar-'));
    await writeFile(join(dir, 'schema.json'), JSON.stringify(SCHEMA));
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ type: 'object', properties: { a: { type: 'nope' } } }));
    await writeFile(join(dir, 'answer.ebnf'), 'root ::= ("yes" | "no") ", " [a-z]{2,6} "!"\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints compact JSON valid for the schema, for several seeds', async () => {
    for (const seed of ['1', '2', '3']) {
      const run = await runLlm(['generate', '--model', gguf!, '--prompt', 'Once upon a time', '--json-schema', join(dir, 'schema.json'), '--seed', seed, '--temperature', '1', '--max-tokens', '200']);
      expect(run.code, run.stderr).toBe(0);
      const value: unknown = JSON.parse(run.stdout);
      expect(new Ajv().validate(SCHEMA, value), run.stdout).toBe(true);
    }
  });

  it('follows an EBNF grammar file', async () => {
    const run = await runLlm(['generate', '--model', gguf!, '--grammar', join(dir, 'answer.ebnf'), '--seed', '5', '--max-tokens', '50', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const json = JSON.parse(run.stdout) as { text: string; finishReason: string };
    expect(json.text).toMatch(/^(yes|no), [a-z]{2,6}!$/);
    expect(json.finishReason).toBe('stop');
  });

  it('exits 2 naming the problem of a schema that is not valid', async () => {
    const run = await runLlm(['generate', '--model', gguf!, '--json-schema', join(dir, 'bad.json'), '--max-tokens', '5']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/invalid JSON Schema.*properties\/a\/type/);
    const both = await runLlm(['generate', '--model', gguf!, '--json-schema', join(dir, 'schema.json'), '--grammar', join(dir, 'answer.ebnf')]);
    expect(both.code).toBe(2);
  });
});
