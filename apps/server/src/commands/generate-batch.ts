import { Engine, type GenerateRequest, type GenerationResult } from '@llm/engine';
import type { LlamaConfig } from '@llm/formats';
import { formatProfile, summarizeProfile } from '@llm/kernels';
import { kvPoolBlockBytes, type RunnerOptions } from '@llm/model';
import { openModel } from '@llm/model/node';
import type { GpuKvDtype } from '@llm/quant';
import { progressLine } from '../progress.js';
import { readBatchFile, resolveBatchRequests, type BatchRequest } from './batch-file.js';
import type { generateSpec } from './command-specs.js';
import { createRunner } from './create-runner.js';
import { PROFILE_HEADER, startKernelProfile } from './generate.js';
import { generationJson } from './generation-json.js';
import { grammarOption } from './grammar-file.js';
import { resolveModelArgument } from './model-argument.js';
import { w8a8Option } from './w8a8-option.js';
import type { ParsedOptions } from './parse-options.js';

// 32 sequences per step: the largest batch bench/attention.ts measures the decode kernel at.
export const DEFAULT_MAX_NUM_SEQS = 32;
// 16 tokens per block, the runner's default, named here because the pool is sized in blocks.
const BLOCK_SIZE = 16;

/**
 * `generate --batch-file`: validates every line, then submits them all to one engine, which
 * batches them continuously, and prints one JSON line per request in the file's order.
 */
export async function generateBatch(
  values: ParsedOptions<typeof generateSpec>['values'],
  path: string,
): Promise<void> {
  const lines = await readBatchFile(path);
  const grammar = await grammarOption(values);
  const resolved = await resolveModelArgument(values.model);
  const tokenizerPath = values.tokenizer ?? resolved.tokenizerPath;
  const model = await openModel(resolved.path, tokenizerPath === undefined ? {} : { tokenizerPath });
  try {
    const config = model.source.config;
    const requests = resolveBatchRequests(path, lines, model.tokenizer, config, {
      maxTokens: values['max-tokens'],
      seed: values.seed,
    });
    const maxSeqs = Math.min(values['max-num-seqs'] ?? DEFAULT_MAX_NUM_SEQS, requests.length);
    const w8a8 = await w8a8Option(values.w8a8, values.backend, model.tokenizer, config.contextLength);
    const { runner, ctx } = await createRunner(values.backend, model.source, {
      ...batchRunnerOptions(config, requests, maxSeqs, values['kv-dtype']),
      activations: values.activations,
      ...(w8a8 ? { w8a8 } : {}),
    });
    const engine = new Engine(runner, model.tokenizer);
    try {
      if (grammar) await engine.prepareGrammar(grammar);
      // Every step of the batch in one profile: its steps mix prompt chunks and decodes.
      const profiled = values.profile ? startKernelProfile(ctx) : undefined;
      let steps = 0;
      let sequencesInSteps = 0;
      engine.onStep((record) => {
        steps++;
        sequencesInSteps += record.prefill.length + record.decode.length;
      });
      const sampling = {
        temperature: values.temperature,
        topP: values['top-p'],
        topK: values['top-k'],
        minP: values['min-p'],
      };
      const startMs = performance.now();
      const progress = progressLine(`generating ${requests.length} requests`);
      let finished = 0;
      const pending = requests.map((r) => {
        const request: GenerateRequest = {
          promptIds: r.promptIds,
          maxTokens: r.maxTokens,
          sampling,
          seed: r.seed,
          ...(grammar ? { grammar } : {}),
        };
        return engine.complete(request).then((generation: GenerationResult) => {
          progress(++finished, requests.length);
          return generation;
        });
      });
      let tokens = 0;
      // In the file's order: a line is printed once it and every line before it are done.
      for (const [i, result] of pending.entries()) {
        const generation = await result;
        tokens += generation.usage.completionTokens;
        process.stdout.write(`${JSON.stringify(generationJson(runner, generation, requests[i]!.seed))}\n`);
      }
      const seconds = (performance.now() - startMs) / 1000;
      process.stderr.write(
        `[llm] ${requests.length} requests, ${tokens} tokens in ${seconds.toFixed(1)} s ` +
          `(${(tokens / seconds).toFixed(2)} tokens/s), ${steps} steps of ${(sequencesInSteps / Math.max(steps, 1)).toFixed(1)} ` +
          `sequences on average (${runner.backend}: ${runner.adapterName})\n`,
      );
      if (profiled) {
        const profile = await profiled.stopProfile();
        process.stderr.write(PROFILE_HEADER);
        process.stderr.write(
          formatProfile(summarizeProfile(profile, tokens), '[llm] batch (every step, per generated token)'),
        );
      }
    } finally {
      await engine.close();
      runner.dispose();
    }
  } finally {
    await model.source.close();
  }
}

/**
 * A runner for `maxSeqs` sequences at once whose KV pool holds that many of the batch's longest
 * request (prompt and output), so no sequence is ever preempted; the context is capped at that
 * length, which keeps the pool and the per-step scratch to what the batch uses.
 */
function batchRunnerOptions(
  config: LlamaConfig,
  requests: readonly BatchRequest[],
  maxSeqs: number,
  kvDtype: GpuKvDtype,
): RunnerOptions {
  // Requests were capped to the context, so the longest fits it.
  const longest = requests.reduce((n, r) => Math.max(n, r.promptIds.length + r.maxTokens), 0);
  const needed = maxSeqs * Math.ceil(longest / BLOCK_SIZE);
  // The scheduler admits a request only while 1 % of the pool stays free (its watermark, as vLLM's).
  const numBlocks = needed + Math.ceil(needed / 99);
  return {
    blockSize: BLOCK_SIZE,
    maxSeqs,
    maxModelLen: longest,
    kvBudgetBytes: numBlocks * kvPoolBlockBytes(config, BLOCK_SIZE, kvDtype),
    kvDtype,
  };
}
