/**
 * Constrained generation entirely in a page: stories260K from a File the user picked, the CPU
 * runner, the engine, and XGrammar's WebAssembly loaded the way a bundler loads it. Bundled for
 * the page by constrained-browser.test.ts.
 */
import { blobSource } from '@llm/formats';
import { CpuModelRunner, openModelFrom } from '@llm/model';
import { Engine } from '../index.js';

declare global {
  interface Window {
    generateJson(schema: Record<string, unknown>, seeds: readonly number[]): Promise<{ texts: string[]; finishReasons: string[] }>;
  }
}

window.generateJson = async (schema, seeds) => {
  const input = document.querySelector<HTMLInputElement>('input[type=file]');
  const file = input?.files?.[0];
  if (!file) throw new Error('no model file picked');
  const model = await openModelFrom(blobSource(file));
  const runner = await CpuModelRunner.load(model.source, { maxModelLen: 512, maxSeqs: 8, maxStepTokens: 64 });
  try {
    const engine = new Engine(runner, model.tokenizer);
    const results = await Promise.all(
      seeds.map((seed) => engine.complete({ prompt: 'Once upon a time', maxTokens: 150, seed, grammar: { type: 'json_schema', schema } })),
    );
    return {
      texts: results.map((r) => r.completions[0]!.text),
      finishReasons: results.map((r) => r.completions[0]!.finishReason),
    };
  } finally {
    runner.dispose();
    await model.source.close();
  }
};
