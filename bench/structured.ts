// `pnpm bench structured`: what grammar-constrained decoding costs. Decode rate of requests whose
// output follows a JSON Schema (a token mask computed on the host per sequence and step, applied on
// the device before sampling) against the same requests unconstrained, at batch 1 and 16, and the
// time to compile a schema. Writes bench/results/structured.json.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine, type GenerateRequest, type GrammarSpec, type StepRecord } from '@llm/engine';
import { GpuContext } from '@llm/kernels';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { printTable, progress } from './console-report.js';
import { ensureSyntheticModel } from './decode-models.js';
import { writeResult } from './result-writer.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const STORIES = join(repoRoot, '..', 'shared', 'models', 'stories260K.gguf');

const usage = `pnpm bench structured [options]

  --model stories|synthetic  stories260K (../shared/models, default) or the synthetic 110M shape (F32)
  --tokens N                 tokens each request generates (default 96)
  --rounds N                 runs of each measurement, the median kept (default 3)
  --help                     this text
`;

/**
 * A long structured reply: fifty records, each with bounded strings, integers, numbers, booleans
 * and enums, so that the mask changes at almost every token and no request finishes early.
 */
function recordsSchema(items: number): Record<string, unknown> {
  return {
    type: 'array',
    minItems: items,
    maxItems: items,
    items: {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 12 },
        age: { type: 'integer', minimum: 0, maximum: 120 },
        score: { type: 'number', minimum: 0, maximum: 1 },
        kind: { enum: ['cat', 'dog', 'bird'] },
        ok: { type: 'boolean' },
      },
      required: ['name', 'age', 'score', 'kind', 'ok'],
    },
  };
}

interface RateRow {
  batch: number;
  freeTokensPerSecond: number;
  constrainedTokensPerSecond: number;
  /** Constrained rate over the free rate, 0..1 (or above 1 within noise). */
  fractionOfFreeRate: number;
  /** Per-token time added by the mask, as a percentage of the free per-token time. */
  overheadPct: number;
  freeMsPerStep: number;
  constrainedMsPerStep: number;
  /** Host time computing the step's masks (overlapping the forward on the device). */
  maskMsPerStep: number;
}

export async function main(args: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: 'string', default: 'stories' },
      tokens: { type: 'string', default: '96' },
      rounds: { type: 'string', default: '3' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const tokens = Number(values.tokens);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(tokens) || tokens < 8 || !Number.isInteger(rounds) || rounds < 1 || !['stories', 'synthetic'].includes(values.model)) {
    process.stderr.write(usage);
    process.exitCode = 2;
    return;
  }
  const path =
    values.model === 'stories' ? STORIES : await ensureSyntheticModel('llama110m-f32.gguf', { preset: 'llama110m', dtype: 'f32' });
  const modelName = values.model === 'stories' ? 'stories260K' : 'llama110m-f32 (synthetic)';
  const model = await openModel(path);
  const ctx = await GpuContext.create();
  const runner = await GpuModelRunner.load(ctx, model.source, { maxSeqs: 16, maxStepTokens: 256, maxModelLen: 512 });
  try {
    const schema = recordsSchema(50);
    const grammar: GrammarSpec = { type: 'json_schema', schema };

    // Compile time: the first compile also loads the WebAssembly module and builds the tokenizer's
    // vocabulary tables; later schemas (made distinct, so none is cached) reuse them.
    const compileEngine = new Engine(runner, model.tokenizer);
    let t = performance.now();
    await compileEngine.prepareGrammar(grammar);
    const firstCompileMs = performance.now() - t;
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      await compileEngine.prepareGrammar({ type: 'json_schema', schema: recordsSchema(40 + i) });
      warm.push(performance.now() - t);
    }
    const compileMs = median(warm);
    progress(`compile: first ${firstCompileMs.toFixed(1)} ms (with wasm load and vocabulary), then ${compileMs.toFixed(1)} ms`);

    const rows: RateRow[] = [];
    for (const batch of [1, 16]) {
      const free: number[] = [];
      const constrained: number[] = [];
      const masks: number[] = [];
      for (let round = 0; round < rounds; round++) {
        free.push((await decodeSteps(runner, model.tokenizer, batch, tokens, undefined)).wallMs);
        const c = await decodeSteps(runner, model.tokenizer, batch, tokens, grammar);
        constrained.push(c.wallMs);
        masks.push(c.maskMs);
      }
      const freeMs = median(free);
      const constrainedMs = median(constrained);
      rows.push({
        batch,
        freeTokensPerSecond: (batch * 1000) / freeMs,
        constrainedTokensPerSecond: (batch * 1000) / constrainedMs,
        fractionOfFreeRate: freeMs / constrainedMs,
        overheadPct: (100 * (constrainedMs - freeMs)) / freeMs,
        freeMsPerStep: freeMs,
        constrainedMsPerStep: constrainedMs,
        maskMsPerStep: median(masks),
      });
      progress(`batch ${batch}: free ${freeMs.toFixed(2)} ms/step, constrained ${constrainedMs.toFixed(2)} ms/step (masks ${median(masks).toFixed(2)} ms)`);
    }
    printTable(rows.map((r) => ({ ...r })));
    printTable([{ firstCompileMs, compileMs }]);
    const written = await writeResult('structured', {
      model: modelName,
      backend: runner.backend,
      adapter: runner.adapterName,
      tokensPerRequest: tokens,
      rounds,
      schema: 'array of 50 records: string maxLength 12, integer 0..120, number 0..1, enum, boolean',
      compile: { firstCompileMs, compileMs },
      decode: rows,
    });
    progress(`wrote ${written}`);
  } finally {
    runner.dispose();
    await model.source.close();
    ctx.destroy();
  }
}

/**
 * Median wall time and mask time of the decode-only steps of `batch` requests generating `tokens`
 * tokens each (prefill steps left out), with or without the grammar.
 */
async function decodeSteps(
  runner: GpuModelRunner,
  tokenizer: Engine['tokenizer'],
  batch: number,
  tokens: number,
  grammar: GrammarSpec | undefined,
): Promise<{ wallMs: number; maskMs: number }> {
  const engine = new Engine(runner, tokenizer, { enablePrefixCaching: false });
  const steps: StepRecord[] = [];
  engine.onStep((s) => steps.push(s));
  const requests = Array.from(
    { length: batch },
    (_, i): GenerateRequest => ({
      prompt: `Once upon a time, ${['Tim', 'Sue', 'Max', 'Lily'][i % 4]} had`,
      maxTokens: tokens,
      seed: i + 1,
      sampling: { temperature: 1 },
      ...(grammar ? { grammar } : { ignoreEos: true }),
    }),
  );
  const results = await Promise.all(requests.map((r) => engine.complete(r)));
  for (const r of results) {
    if (r.completions[0]!.tokenIds.length !== tokens) throw new Error(`a request ended after ${r.completions[0]!.tokenIds.length} of ${tokens} tokens`);
  }
  const full = steps.filter((s) => s.numPrefillTokens === 0 && s.decode.length === batch);
  return { wallMs: median(full.map((s) => s.wallMs)), maskMs: median(full.map((s) => s.maskMs)) };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
