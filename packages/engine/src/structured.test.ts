import { gpuForTests } from '@llm/kernels/testing';
import { GpuModelRunner, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { modelFile } from '@llm/formats/testing';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from './engine.js';
import type { GenerateRequest } from './generate-request.js';

const gguf = modelFile('stories260K.gguf');
const gpu = await gpuForTests();
const BLOCK_BYTES = 16 * 2 * 5 * 4 * 8 * 4;

const SCHEMAS: Record<string, Record<string, unknown>> = {
  nested: {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      address: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 10 }, zip: { type: 'integer', minimum: 10000, maximum: 99999 } },
        required: ['city', 'zip'],
      },
      pet: { type: 'object', properties: { kind: { type: 'string', maxLength: 6 } }, required: ['kind'] },
    },
    required: ['name', 'address'],
  },
  arrays: {
    type: 'object',
    properties: {
      scores: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 9 }, minItems: 1, maxItems: 4 },
      words: { type: 'array', items: { type: 'string', maxLength: 5 }, minItems: 2, maxItems: 3 },
    },
    required: ['scores', 'words'],
  },
  enums: {
    type: 'object',
    properties: {
      color: { enum: ['red', 'green', 'blue'] },
      size: { type: 'string', enum: ['S', 'M', 'L', 'XL'] },
      level: { enum: [1, 2, 3] },
    },
    required: ['color', 'size'],
  },
  numbers: {
    type: 'object',
    properties: {
      count: { type: 'integer', minimum: -5, maximum: 100 },
      ratio: { type: 'number', minimum: 0, maximum: 1 },
      temperature: { type: 'number', minimum: -50, maximum: 50 },
    },
    required: ['count', 'ratio', 'temperature'],
  },
  flags: {
    type: 'object',
    properties: {
      title: { type: 'string', maxLength: 20 },
      done: { type: 'boolean' },
      note: { type: 'string', maxLength: 8 },
      urgent: { type: 'boolean' },
    },
    required: ['title', 'done'],
  },
};

describe.skipIf(!gguf || !gpu)('constrained decoding on stories260K (WebGPU)', () => {
  let model: OpenedModel;
  let runner: GpuModelRunner;
  beforeAll(async () => {
    model = await openModel(gguf!);
    runner = await GpuModelRunner.load(gpu!, model.source, { maxSeqs: 32, maxStepTokens: 128, maxModelLen: 512, kvBudgetBytes: 800 * BLOCK_BYTES });
  });
  afterAll(async () => {
    runner?.dispose();
    await model?.source.close();
  });

  it('probe', async () => {
    const engine = new Engine(runner, model.tokenizer);
    const ajv = new Ajv({ strict: false });
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      const t = performance.now();
      const reqs: GenerateRequest[] = Array.from({ length: 20 }, (_, i) => ({
        prompt: 'Once upon a time',
        maxTokens: 200,
        seed: i,
        sampling: { temperature: 1 },
        grammar: { type: 'json_schema', schema },
      }));
      const results = await Promise.all(reqs.map((r) => engine.complete(r)));
      const validate = ajv.compile(schema);
      let ok = 0;
      for (const r of results) {
        const c = r.completions[0]!;
        let valid = false;
        try { valid = validate(JSON.parse(c.text)); } catch { /* */ }
        if (valid) ok++;
        else console.log(name, c.finishReason, c.tokenIds.length, JSON.stringify(c.text));
      }
      console.log(name, ok, 'ms', performance.now() - t, results.slice(0, 2).map((r) => r.completions[0]!.text));
    }
    expect(1).toBe(1);
  }, 600_000);
});
