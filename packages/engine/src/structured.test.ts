import { gpuForTests } from '@llm/kernels/testing';
import { GpuModelRunner, type OpenedModel } from '@llm/model';
import { openModel } from '@llm/model/node';
import { modelFile } from '@llm/formats/testing';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from './engine.js';
import type { GenerateRequest } from './generate-request.js';
import { GrammarError } from './grammar.js';
import type { StepRecord } from './step-record.js';

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

  const STORY = 'Once upon a time, there was a little boy named Tim. Tim liked to play with his red ball in the big park near his house.';
  const free = (i: number): GenerateRequest => ({ prompt: STORY.slice(0, 20 + 7 * i), maxTokens: 48, sampling: { temperature: 0 } });

  it('keeps 500 sampled replies valid for five schemas, while unconstrained neighbours keep their solo tokens', async () => {
    const solo: number[][] = [];
    for (let i = 0; i < 12; i++) solo.push([...(await new Engine(runner, model.tokenizer).complete(free(i))).completions[0]!.tokenIds]);

    const engine = new Engine(runner, model.tokenizer);
    const ajv = new Ajv({ strict: false });
    const constrained = Object.entries(SCHEMAS).flatMap(([name, schema]) =>
      Array.from({ length: 100 }, (_, i) => ({
        name,
        schema,
        done: engine.complete({
          prompt: ['Once upon a time', 'The cat', 'Lily said'][i % 3]!,
          maxTokens: 200,
          seed: 1000 + i,
          sampling: { temperature: 1 },
          grammar: { type: 'json_schema', schema },
        }),
      })),
    );
    // The unconstrained requests join while constrained ones run, so steps mix the two kinds.
    const frees = Array.from({ length: 12 }, (_, i) => engine.complete(free(i)));
    const results = await Promise.all(constrained.map((c) => c.done));
    const reasons = new Map<string, number>();
    for (const [i, result] of results.entries()) {
      const { name, schema } = constrained[i]!;
      const c = result.completions[0]!;
      reasons.set(c.finishReason, (reasons.get(c.finishReason) ?? 0) + 1);
      const validate = ajv.compile(schema);
      const value: unknown = JSON.parse(c.text);
      expect(validate(value), `${name} #${i}: ${c.text} ${ajv.errorsText(validate.errors)}`).toBe(true);
      // Compact: no whitespace outside strings.
      expect(c.text.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/);
    }
    expect(Object.fromEntries(reasons)).toEqual({ stop: 500 });
    expect((await Promise.all(frees)).map((r) => [...r.completions[0]!.tokenIds])).toEqual(solo);
  }, 900_000);

  it('gives a seeded constrained request the same tokens alone and batched', async () => {
    const request = (seed: number): GenerateRequest => ({
      prompt: 'Once upon a time',
      maxTokens: 120,
      seed,
      sampling: { temperature: 1, topP: 0.9 },
      grammar: { type: 'json_schema', schema: SCHEMAS['flags']! },
    });
    const alone = (await new Engine(runner, model.tokenizer).complete(request(7))).completions[0]!.tokenIds;
    const engine = new Engine(runner, model.tokenizer);
    const steps: StepRecord[] = [];
    engine.onStep((s) => steps.push(s));
    const batch = await Promise.all([request(5), free(3), request(7), free(4), request(9)].map((r) => engine.complete(r)));
    expect(batch[2]!.completions[0]!.tokenIds).toEqual(alone);
    // Steps that sample constrained sequences spend host time on masks; the others none.
    expect(steps.some((s) => s.maskMs > 0)).toBe(true);
    const freeOnly = new Engine(runner, model.tokenizer);
    const freeSteps: StepRecord[] = [];
    freeOnly.onStep((s) => freeSteps.push(s));
    await freeOnly.complete(free(1));
    expect(freeSteps.every((s) => s.maskMs === 0)).toBe(true);
  });

  it('ends a reply cut by maxTokens with length and the partial text', async () => {
    const result = await new Engine(runner, model.tokenizer).complete({
      prompt: 'Once upon a time',
      maxTokens: 6,
      seed: 3,
      grammar: { type: 'json_schema', schema: SCHEMAS['nested']! },
    });
    const c = result.completions[0]!;
    expect(c.finishReason).toBe('length');
    expect(c.tokenIds).toHaveLength(6);
    expect(c.text.length).toBeGreaterThan(0);
    expect('{"name":"'.startsWith(c.text) || c.text.startsWith('{"name":"')).toBe(true);
  });

  it('follows EBNF and regex grammars and any JSON object', async () => {
    const engine = new Engine(runner, model.tokenizer);
    const [ebnf, regex, ...objects] = await Promise.all([
      engine.complete({ prompt: 'The cat', maxTokens: 40, seed: 1, grammar: { type: 'ebnf', grammar: 'root ::= ("yes" | "no") " " [a-z]{1,8} "."' } }),
      engine.complete({ prompt: 'The cat', maxTokens: 40, seed: 2, grammar: { type: 'regex', pattern: '[0-9]{3}-[A-Z]{2}' } }),
      ...[1, 2, 3, 4].map((seed) => engine.complete({ prompt: 'The cat', maxTokens: 200, seed, grammar: { type: 'json_object' } })),
    ]);
    expect(ebnf.completions[0]!.text).toMatch(/^(yes|no) [a-z]{1,8}\.$/);
    expect(regex.completions[0]!.text).toMatch(/^[0-9]{3}-[A-Z]{2}$/);
    // Free-form JSON has no length bound (a model that knows no JSON fills strings until cut), but
    // every reply is an object's start and every finished one an object.
    for (const c of objects.map((r) => r.completions[0]!)) {
      expect(c.text.startsWith('{')).toBe(true);
      if (c.finishReason === 'length') continue;
      const value: unknown = JSON.parse(c.text);
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    }
  });

  it('rejects a schema that is not valid JSON Schema with a GrammarError that names the problem', async () => {
    const engine = new Engine(runner, model.tokenizer);
    const bad = { type: 'object', properties: { a: { type: 'strin' } } };
    await expect(engine.prepareGrammar({ type: 'json_schema', schema: bad })).rejects.toThrow(GrammarError);
    await expect(engine.prepareGrammar({ type: 'json_schema', schema: bad })).rejects.toThrow(/properties\/a\/type/);
    await expect(engine.complete({ prompt: 'x', grammar: { type: 'json_schema', schema: bad } })).rejects.toThrow(GrammarError);
    await expect(engine.prepareGrammar({ type: 'ebnf', grammar: 'root ::= "a" |' })).rejects.toThrow(/EBNF/);
    await expect(
      engine.prepareGrammar({ type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'string', minLength: 5, maxLength: 2 } } } }),
    ).rejects.toThrow('the JSON Schema allows no value: /properties/a: minLength 5 is above maxLength 2');
    // The engine still serves after a rejected grammar.
    const ok = await engine.complete({ prompt: 'x', maxTokens: 100, seed: 1, grammar: { type: 'json_schema', schema: SCHEMAS['enums']! } });
    expect(ok.completions[0]!.finishReason).toBe('stop');
  });

  const weatherTag = (name: string) => ({
    type: 'tag',
    begin: `<tool_call>{"name": "${name}", "arguments": `,
    content: { type: 'json_schema', json_schema: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city'] } },
    end: '}</tool_call>',
  });

  it('writes one tool call through a structural tag, with compact JSON arguments, and stops', async () => {
    const engine = new Engine(runner, model.tokenizer);
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((seed) =>
        engine.complete({
          prompt: 'Tim asked',
          maxTokens: 200,
          seed,
          grammar: { type: 'structural_tag', format: { type: 'tags_with_separator', separator: '\n', at_least_one: true, stop_after_first: true, tags: [weatherTag('get_weather'), weatherTag('get_time')] } },
        }),
      ),
    );
    for (const r of results) {
      const c = r.completions[0]!;
      expect(c.finishReason).toBe('stop');
      expect(c.text.split('\n')).toHaveLength(1);
      for (const line of c.text.split('\n')) {
        const m = /^<tool_call>\{"name": "(get_weather|get_time)", "arguments": (.*)\}<\/tool_call>$/.exec(line);
        expect(m, c.text).not.toBeNull();
        const args = JSON.parse(m![2]!) as { city: string };
        expect(typeof args.city).toBe('string');
        expect(m![2]).not.toMatch(/^\{\s|,\s|:\s/);
      }
    }
  });
});
