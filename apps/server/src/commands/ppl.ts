import { PerplexityAccumulator, perplexityWindows } from '@llm/engine';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import type { pplSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';
import {
  checkTokens,
  fmt,
  generatedTokens,
  openScoringModel,
  textFileTokens,
  windowBos,
  windowContext,
  windowLogits,
} from './scored-text.js';

export async function pplCommand({ values }: ParsedOptions<typeof pplSpec>): Promise<void> {
  const textFile = values['text-file'];
  const generate = values.generate;
  checkTextSource(textFile, generate);
  const scoring = await openScoringModel(values.model, values.tokenizer, values.backend, values.context ?? 512, {
    kvDtype: values['kv-dtype'],
    activations: values.activations,
    w8a8File: values.w8a8,
  });
  try {
    const { runner, model } = scoring;
    const vocab = runner.config.vocabSize;
    const context = windowContext(values.context, model.source.config.contextLength);
    // Refuse too short a text before generating it.
    if (generate !== undefined) perplexityWindows(generate, context);
    const tokens =
      textFile !== undefined
        ? await textFileTokens(textFile, model)
        : await generatedTokens(scoring, generate!, values.seed, progressLine('generating text'));
    checkTokens(tokens, vocab);
    const windows = perplexityWindows(tokens.length, context);
    const bos = windowBos(model);
    const acc = new PerplexityAccumulator();
    const started = performance.now();
    for (const [i, window] of windows.entries()) {
      const logits = await windowLogits(runner, tokens, window, bos);
      for (let j = window.first; j < window.length - 1; j++) {
        const row = j - window.first;
        acc.addLogits(logits.subarray(row * vocab, (row + 1) * vocab), tokens[window.start + j + 1]!);
      }
      const so = acc.result();
      process.stderr.write(
        `[llm] window ${i + 1}/${windows.length}: PPL ${fmt(so.perplexity.value)} over ${so.tokens} tokens ` +
          `(${((performance.now() - started) / 1000 / (i + 1)).toFixed(2)} s per window)\n`,
      );
    }
    const r = acc.result();
    process.stderr.write(
      `[llm] Final estimate: PPL = ${fmt(r.perplexity.value)} +/- ${fmt(r.perplexity.stderr, 5)} ` +
        `(${r.tokens} tokens scored in ${windows.length} windows of ${context}; ${runner.backend}: ${runner.adapterName})\n`,
    );
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({
          perplexity: r.perplexity.value,
          stderr: r.perplexity.stderr,
          meanNll: r.meanNll.value,
          tokens: r.tokens,
          windows: windows.length,
          context,
          textTokens: tokens.length,
          backend: runner.backend,
        })}\n`,
      );
    } else {
      process.stdout.write(`PPL = ${fmt(r.perplexity.value)} +/- ${fmt(r.perplexity.stderr, 5)} (${r.tokens} tokens)\n`);
    }
  } finally {
    await scoring.close();
  }
}

/** Exactly one of --text-file and --generate. */
export function checkTextSource(textFile: string | undefined, generate: number | undefined): void {
  if (textFile !== undefined && generate !== undefined) {
    throw new CliUsageError('give either --text-file or --generate, not both');
  }
  if (textFile === undefined && generate === undefined) {
    throw new CliUsageError('nothing to score: give --text-file FILE or --generate N');
  }
}
