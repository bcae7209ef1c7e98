import { KlDivergenceAccumulator, perplexityWindows } from '@llm/engine';
import type { Tokenizer } from '@llm/tokenizer';
import { CliUsageError } from '../cli-error.js';
import { progressLine } from '../progress.js';
import type { kldSpec } from './command-specs.js';
import type { ParsedOptions } from './parse-options.js';
import { checkTextSource } from './ppl.js';
import {
  checkTokens,
  fmt,
  generatedTokens,
  openScoringModel,
  textFileTokens,
  windowBos,
  windowContext,
  windowLogits,
  type ScoringModel,
} from './scored-text.js';

export async function kldCommand({ values }: ParsedOptions<typeof kldSpec>): Promise<void> {
  const textFile = values['text-file'];
  const generate = values.generate;
  checkTextSource(textFile, generate);
  const stepTokens = values.context ?? 512;
  const base = await openScoringModel(values.base, values.tokenizer, values.backend, stepTokens, { kvDtype: 'f32', activations: 'f32' });
  let quant: ScoringModel | undefined;
  try {
    quant = await openScoringModel(
      values.quant,
      values.tokenizer,
      values.backend,
      stepTokens,
      { kvDtype: values['kv-dtype'], activations: values.activations, w8a8File: values.w8a8 },
      base.ctx,
    );
    checkSameVocabulary(base, quant);
    const vocab = base.runner.config.vocabSize;
    const context = windowContext(values.context, Math.min(base.model.source.config.contextLength, quant.model.source.config.contextLength));
    if (generate !== undefined) perplexityWindows(generate, context);
    const tokens =
      textFile !== undefined
        ? await textFileTokens(textFile, base.model)
        : await generatedTokens(base, generate!, values.seed, progressLine('generating text with the base model'));
    checkTokens(tokens, vocab);
    const windows = perplexityWindows(tokens.length, context);
    const bos = windowBos(base.model);
    const acc = new KlDivergenceAccumulator();
    const started = performance.now();
    for (const [i, window] of windows.entries()) {
      // One window of each model at a time: only two windows of logits are ever held.
      const p = await windowLogits(base.runner, tokens, window, bos);
      const q = await windowLogits(quant.runner, tokens, window, bos);
      for (let j = window.first; j < window.length - 1; j++) {
        const row = j - window.first;
        const at = row * vocab;
        acc.add(p.subarray(at, at + vocab), q.subarray(at, at + vocab), tokens[window.start + j + 1]!);
      }
      const so = acc.result();
      process.stderr.write(
        `[llm] window ${i + 1}/${windows.length}: PPL(Q) ${fmt(so.quant.perplexity.value)}, ` +
          `ln(PPL(Q)/PPL(base)) ${fmt(Math.log(so.pplRatio.value), 5)}, KLD ${fmt(so.meanKld.value, 6)}, ` +
          `same top ${fmt(100 * so.sameTop.value, 2)} % ` +
          `(${((performance.now() - started) / 1000 / (i + 1)).toFixed(2)} s per window)\n`,
      );
    }
    const r = acc.result();
    const pm = (e: { value: number; stderr: number }, digits = 6) => `${fmt(e.value, digits)} ± ${fmt(e.stderr, digits)}`;
    const report = [
      `Mean PPL(Q)                   : ${pm(r.quant.perplexity)}`,
      `Mean PPL(base)                : ${pm(r.base.perplexity)}`,
      `Mean PPL(Q)/PPL(base)         : ${pm(r.pplRatio)}`,
      `Mean    KLD: ${pm(r.meanKld)}`,
      `Maximum KLD: ${fmt(r.maxKld, 6)}`,
      `99.0%   KLD: ${fmt(r.p99Kld, 6)}`,
      `Median  KLD: ${fmt(r.medianKld, 6)}`,
      `Same top p: ${fmt(100 * r.sameTop.value, 3)} ± ${fmt(100 * r.sameTop.stderr, 3)} %`,
      `(${r.tokens} tokens scored in ${windows.length} windows of ${context}; ${base.runner.backend}: ${base.runner.adapterName})`,
    ];
    if (values.json) {
      process.stderr.write(report.map((line) => `[llm] ${line}\n`).join(''));
      process.stdout.write(
        `${JSON.stringify({
          meanKld: r.meanKld.value,
          meanKldStderr: r.meanKld.stderr,
          medianKld: r.medianKld,
          p99Kld: r.p99Kld,
          maxKld: r.maxKld,
          sameTop: r.sameTop.value,
          sameTopStderr: r.sameTop.stderr,
          pplBase: r.base.perplexity.value,
          pplBaseStderr: r.base.perplexity.stderr,
          pplQuant: r.quant.perplexity.value,
          pplQuantStderr: r.quant.perplexity.stderr,
          pplRatio: r.pplRatio.value,
          pplRatioStderr: r.pplRatio.stderr,
          tokens: r.tokens,
          windows: windows.length,
          context,
          backend: base.runner.backend,
        })}\n`,
      );
    } else {
      process.stdout.write(report.slice(0, -1).map((line) => `${line}\n`).join(''));
    }
  } finally {
    await quant?.close();
    await base.close();
  }
}

/** The two models must score the same token ids: the same vocabulary size and the same token texts. */
function checkSameVocabulary(base: ScoringModel, quant: ScoringModel): void {
  const a = base.runner.config.vocabSize;
  const b = quant.runner.config.vocabSize;
  if (a !== b) {
    throw new CliUsageError(`--base and --quant have different vocabularies (${a} and ${b} tokens): compare a model with a quantization of itself`);
  }
  const differing = firstDifferentToken(base.model.tokenizer, quant.model.tokenizer, a);
  if (differing !== undefined) {
    throw new CliUsageError(
      `--base and --quant have different vocabularies: token ${differing} is ${JSON.stringify(base.model.tokenizer.tokenText(differing))} ` +
        `in one and ${JSON.stringify(quant.model.tokenizer.tokenText(differing))} in the other`,
    );
  }
}

function firstDifferentToken(a: Tokenizer, b: Tokenizer, vocab: number): number | undefined {
  for (let id = 0; id < vocab; id++) if (a.tokenText(id) !== b.tokenText(id)) return id;
  return undefined;
}
