import { KvCacheManager, type PrefixCacheStats } from '@llm/kvcache';
import type { ModelRunner, SamplingParams, SequenceChunk } from '@llm/model';
import type { Tokenizer } from '@llm/tokenizer';
import { ContextLengthError, EngineRequestError } from './errors.js';
import { SamplingRandom } from '@llm/kernels';

export interface GenerateRequest {
  /** Prompt token ids, used verbatim (BOS included if wanted). */
  readonly promptIds: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly seed?: number;
  /** Receives each generated token and the text it completes (may be empty mid-character). */
  readonly onToken?: (tokenId: number, textDelta: string) => void;
  /**
   * Called once the prompt is prefilled, before the first decode step: where a caller starts
   * timing or profiling the decode steps apart from the prefill.
   */
  readonly onPrefillDone?: () => void;
}

export type FinishReason = 'stop' | 'length';

export interface GenerateResult {
  readonly promptTokenIds: number[];
  /** Every generated token, including a final end-of-generation token when one stopped it. */
  readonly tokenIds: number[];
  readonly text: string;
  readonly finishReason: FinishReason;
  /** Prompt tokens whose K/V came from the prefix cache instead of a prefill. */
  readonly cachedPromptTokens: number;
  readonly timings: { prefillMs: number; decodeMs: number; decodeTokensPerSecond: number };
}

export interface GeneratorOptions {
  readonly enablePrefixCaching?: boolean;
}

/**
 * Runs requests one after another on a model runner, with the KV pool managed by a paged block
 * allocator; finished sequences leave their full prompt blocks in the prefix cache.
 */
export class Generator {
  readonly kv: KvCacheManager;
  private nextId = 0;

  constructor(
    readonly runner: ModelRunner,
    readonly tokenizer: Tokenizer,
    options: GeneratorOptions = {},
  ) {
    this.kv = new KvCacheManager({
      numBlocks: runner.numBlocks,
      blockSize: runner.blockSize,
      enablePrefixCaching: options.enablePrefixCaching ?? true,
    });
  }

  prefixCacheStats(): PrefixCacheStats {
    return this.kv.prefixCacheStats();
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const prompt = [...request.promptIds];
    const contextLength = this.runner.config.contextLength;
    if (prompt.length === 0) throw new EngineRequestError('the prompt is empty: give at least one token');
    if (prompt.length >= contextLength) throw new ContextLengthError(prompt.length, contextLength);
    const vocab = this.runner.config.vocabSize;
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) {
        throw new EngineRequestError(`prompt token id ${id} is outside the vocabulary (0..${vocab - 1})`);
      }
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
      throw new EngineRequestError(`maxTokens must be a positive integer, got ${request.maxTokens}`);
    }
    const rng = new SamplingRandom(request.seed ?? 0);
    const sample = () => ({ params: request.sampling, u: rng.nextUniform() });
    const id = this.nextId++;
    const eog = this.tokenizer.eogIds;
    const decoder = this.tokenizer.createStreamDecoder({ previousId: prompt[prompt.length - 1]! });
    const tokenIds: number[] = [];
    let text = '';
    let finishReason: FinishReason = 'length';

    const started = performance.now();
    const { numCachedTokens } = this.kv.allocate(id, prompt);
    try {
      // Chunked prefill: the prompt runs in steps of at most maxStepTokens; only the last
      // chunk's sample is kept.
      let next = 0;
      for (let pos = numCachedTokens; pos < prompt.length; ) {
        const end = Math.min(prompt.length, pos + this.runner.maxStepTokens);
        const chunk: SequenceChunk = { tokens: prompt.slice(pos, end), startPos: pos, blockTable: this.kv.blockTable(id) };
        next = (await this.runner.step([chunk], [sample()]))[0]!;
        this.kv.markComputed(id, end);
        pos = end;
      }
      const prefillMs = performance.now() - started;
      request.onPrefillDone?.();
      const decodeStart = performance.now();
      for (;;) {
        tokenIds.push(next);
        const delta = decoder.push(next);
        text += delta;
        request.onToken?.(next, delta);
        if (eog.has(next)) {
          finishReason = 'stop';
          break;
        }
        const length = prompt.length + tokenIds.length;
        if (tokenIds.length >= request.maxTokens || length >= contextLength) break;
        const { copy } = this.kv.append(id, [next]);
        if (copy) await this.runner.copyBlocks([copy]);
        const chunk: SequenceChunk = { tokens: [next], startPos: length - 1, blockTable: this.kv.blockTable(id) };
        next = (await this.runner.step([chunk], [sample()]))[0]!;
      }
      const tail = decoder.flush();
      text += tail;
      if (tail) request.onToken?.(-1, tail);
      const decodeMs = performance.now() - decodeStart;
      const decoded = tokenIds.length - 1;
      return {
        promptTokenIds: prompt,
        tokenIds,
        text,
        finishReason,
        cachedPromptTokens: numCachedTokens,
        timings: {
          prefillMs,
          decodeMs,
          decodeTokensPerSecond: decoded > 0 && decodeMs > 0 ? (decoded * 1000) / decodeMs : 0,
        },
      };
    } finally {
      this.kv.free(id);
    }
  }
}
