import { availableParallelism } from 'node:os';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { readCacheFile, writeCacheFile } from './cache-file.js';
import { LlamaCppPeerError, PeerInputError } from './errors.js';
import {
  describeFailure,
  PEER_BACKENDS,
  sharedRuntime,
  type PeerBackend,
  type PeerRuntime,
} from './llama-runtime.js';
import { LlamaCppTokenizer, loadModel, type PeerTokenizer } from './tokenizer.js';

export interface PeerOptions {
  /**
   * Tokens one evaluation may hold (prompt plus generated tokens). llama.cpp may round it up to
   * a multiple of 256. Default: the model's training context, at most 4096.
   */
  contextSize?: number;
  /** CPU threads for every call but decodeTokensPerSecond(). Default: the machine's cores. */
  threads?: number;
  /**
   * 'cpu' (default), or 'vulkan': every layer and the KV cache on one Vulkan device, the first
   * one unless GGML_VK_VISIBLE_DEVICES says otherwise (set before the first Vulkan peer opens).
   */
  backend?: PeerBackend;
}

export interface PrefillTiming {
  /** Wall time from the call into llama.cpp to the first sampled token. */
  seconds: number;
  /** Prompt tokens per second of that time. */
  tokensPerSecond: number;
}

export interface DecodeSpeedOptions {
  /** CPU threads for the measured decode. Default: the machine's cores. */
  threads?: number;
}

/** One GGUF model loaded in llama.cpp: a reference for outputs and for speed. */
export interface Peer extends PeerTokenizer {
  readonly backend: PeerBackend;
  /** 'CPU', or the name of the Vulkan device the model runs on. */
  readonly deviceName: string;
  /** The context size llama.cpp allocated (may exceed the one asked for). */
  readonly contextSize: number;
  /**
   * Tokens the peer's KV cache holds: the context decodeTokensPerSecondFromCache() continues.
   * prefill() and loadCache() set it; greedy() and logits() replace it too.
   */
  readonly cachedTokens: number;
  /**
   * Evaluates exactly `promptIds` (nothing prepended) and generates greedily (argmax, no penalty,
   * no other sampler) until an end-of-generation token, which is included, or `maxTokens` tokens.
   */
  greedy(promptIds: readonly number[], maxTokens: number): Promise<number[]>;
  /** Raw next-token logits after `promptIds`, indexed by token id. */
  logits(promptIds: readonly number[]): Promise<Float32Array>;
  /**
   * Batch-1 decode speed in tokens per second: evaluates `promptIds` (untimed, except its last
   * token), then times `numTokens` single-token decode steps of greedy generation by wall clock.
   * Generation runs past end-of-generation tokens so every measurement decodes `numTokens` steps.
   */
  decodeTokensPerSecond(
    promptIds: readonly number[],
    numTokens: number,
    options?: DecodeSpeedOptions,
  ): Promise<number>;
  /**
   * Empties the KV cache, evaluates `promptIds` and samples the next token (greedy), timed by
   * wall clock. The cache then holds the prompt. Also how a long context is filled.
   */
  prefill(promptIds: readonly number[]): Promise<PrefillTiming>;
  /**
   * Batch-1 decode speed continuing the cached context: times `numTokens` single-token decode
   * steps (the cache's last token repeated, then greedy tokens; any token costs the same), then
   * erases them, so that every call decodes from the same context.
   */
  decodeTokensPerSecondFromCache(numTokens: number): Promise<number>;
  /**
   * Writes the KV cache to `path` (llama.cpp's sequence state) and `path`.json (the model it
   * belongs to). A peer of the same GGUF file on any backend can load it.
   */
  saveCache(path: string): Promise<void>;
  /** Replaces the KV cache with one saveCache() wrote for the same GGUF file. */
  loadCache(path: string): Promise<void>;
}

// Greedy sampling ignores the seed; it is fixed anyway so that no run depends on the clock
// (node-llama-cpp's default seed is the current time).
const SAMPLING_SEED = 0;
// temperature 0 makes node-llama-cpp's sampler chain a bare llama_sampler_init_greedy();
// yieldEogToken hands the end token back, as the engine reports it.
const greedyOptions = { temperature: 0, seed: SAMPLING_SEED, yieldEogToken: true } as const;
// Beyond this the KV cache of a 7B-class model alone passes 2 GiB: plenty for a reference run.
const DEFAULT_MAX_CONTEXT = 4096;

/**
 * Loads a GGUF file into llama.cpp (mmap) on the CPU or on a Vulkan device. Throws
 * PeerUnavailableError when llama.cpp cannot run here on that backend.
 */
export async function openPeer(ggufPath: string, options: PeerOptions = {}): Promise<Peer> {
  const threads = options.threads ?? availableParallelism();
  checkThreads(threads);
  if (options.contextSize !== undefined) checkCount('contextSize', options.contextSize, 1);
  const backend = options.backend ?? 'cpu';
  if (!PEER_BACKENDS.includes(backend)) {
    throw new PeerInputError(`backend must be one of ${PEER_BACKENDS.join(', ')}, got ${String(backend)}`);
  }
  const runtime = await sharedRuntime(backend);
  const model = await loadModel(ggufPath, runtime, { vocabOnly: false });
  try {
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize, DEFAULT_MAX_CONTEXT);
    const context = await model.createContext({ contextSize, threads, sequences: 1 });
    return new LlamaCppPeer(ggufPath, runtime, model, context);
  } catch (error) {
    await model.dispose();
    throw new LlamaCppPeerError(
      `llama.cpp could not create a context for ${ggufPath}: ${describeFailure(error)}`,
      { cause: error },
    );
  }
}

class LlamaCppPeer extends LlamaCppTokenizer implements Peer {
  readonly backend: PeerBackend;
  readonly deviceName: string;
  readonly contextSize: number;
  // One sequence serves every call, so calls run one after another.
  private readonly sequence: LlamaContextSequence;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ggufPath: string,
    runtime: PeerRuntime,
    model: LlamaModel,
    private readonly context: LlamaContext,
  ) {
    super(model);
    this.backend = runtime.backend;
    this.deviceName = runtime.deviceName;
    this.contextSize = context.contextSize;
    this.sequence = context.getSequence();
  }

  get cachedTokens(): number {
    return this.sequence.nextTokenIndex;
  }

  greedy(promptIds: readonly number[], maxTokens: number): Promise<number[]> {
    const prompt = this.checkPrompt(promptIds);
    checkCount('maxTokens', maxTokens, 0);
    this.checkFits(prompt.length + maxTokens, 'prompt plus maxTokens');
    return this.exclusive(async () => {
      const generated: number[] = [];
      if (maxTokens === 0) return generated;
      const sequence = await this.freshSequence();
      for await (const token of sequence.evaluate(prompt, greedyOptions)) {
        generated.push(token);
        if (generated.length >= maxTokens || this.model.isEogToken(token)) break;
      }
      return generated;
    });
  }

  logits(promptIds: readonly number[]): Promise<Float32Array> {
    const prompt = this.checkPrompt(promptIds);
    this.checkFits(prompt.length, 'prompt');
    return this.exclusive(async () => {
      const sequence = await this.freshSequence();
      const last = prompt.length - 1;
      const outputs = await sequence.controlledEvaluate([
        ...prompt.slice(0, last),
        // Greedy leaves the candidates untouched, so these are the model's raw logits.
        [prompt[last]!, { generateNext: { logits: true, options: { temperature: 0, seed: SAMPLING_SEED } } }],
      ]);
      const byToken = outputs[last]?.next.logits;
      if (byToken === undefined || byToken.size !== this.vocabSize) {
        throw new LlamaCppPeerError(
          `llama.cpp returned ${byToken?.size ?? 0} logits for a vocabulary of ${this.vocabSize}`,
        );
      }
      const logits = new Float32Array(this.vocabSize);
      for (const [token, logit] of byToken) logits[token] = logit;
      return logits;
    });
  }

  decodeTokensPerSecond(
    promptIds: readonly number[],
    numTokens: number,
    options: DecodeSpeedOptions = {},
  ): Promise<number> {
    const prompt = this.checkPrompt(promptIds);
    checkCount('numTokens', numTokens, 1);
    const threads = options.threads ?? availableParallelism();
    checkThreads(threads);
    return this.exclusive(async () => {
      // A context of its own: the thread count is fixed per context, and the KV cache starts empty.
      const context = await this.model.createContext({
        contextSize: prompt.length + numTokens,
        threads,
        sequences: 1,
      });
      try {
        const sequence = context.getSequence();
        const last = prompt.length - 1;
        if (last > 0) await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, last));
        // From here each yielded token costs exactly one batch-1 decode: the first decodes the
        // prompt's last token, every later one the token generated before it.
        const generation = sequence.evaluate([prompt[last]!], greedyOptions);
        const start = performance.now();
        for (let decoded = 0; decoded < numTokens; decoded += 1) await generation.next();
        const seconds = (performance.now() - start) / 1000;
        await generation.return(undefined);
        return numTokens / seconds;
      } finally {
        await context.dispose();
      }
    });
  }

  prefill(promptIds: readonly number[]): Promise<PrefillTiming> {
    const prompt = this.checkPrompt(promptIds);
    this.checkFits(prompt.length, 'prompt');
    return this.exclusive(async () => {
      const sequence = await this.freshSequence();
      const generation = sequence.evaluate(prompt, greedyOptions);
      const start = performance.now();
      await generation.next();
      const seconds = (performance.now() - start) / 1000;
      // The sampled token is never evaluated: the cache holds exactly the prompt.
      await generation.return(undefined);
      return { seconds, tokensPerSecond: prompt.length / seconds };
    });
  }

  decodeTokensPerSecondFromCache(numTokens: number): Promise<number> {
    checkCount('numTokens', numTokens, 1);
    return this.exclusive(async () => {
      const cached = this.cachedTokens;
      if (cached === 0) {
        throw new PeerInputError('the KV cache is empty; fill it with prefill() or loadCache() first');
      }
      this.checkFits(cached + numTokens, 'cached tokens plus numTokens');
      const last = this.sequence.contextTokens[cached - 1]!;
      const generation = this.sequence.evaluate([last], greedyOptions);
      try {
        // Each yielded token costs exactly one batch-1 decode: the first decodes the repeated
        // token, every later one the token generated before it.
        const start = performance.now();
        for (let decoded = 0; decoded < numTokens; decoded += 1) await generation.next();
        return numTokens / ((performance.now() - start) / 1000);
      } finally {
        await generation.return(undefined);
        await this.sequence.eraseContextTokenRanges([{ start: cached, end: this.sequence.nextTokenIndex }]);
      }
    });
  }

  saveCache(path: string): Promise<void> {
    return this.exclusive(async () => {
      await this.sequence.saveStateToFile(path);
      writeCacheFile(path, this.ggufPath, this.cachedTokens);
    });
  }

  loadCache(path: string): Promise<void> {
    const { tokens } = readCacheFile(path, this.ggufPath);
    this.checkFits(tokens, 'the saved cache');
    return this.exclusive(async () => {
      await this.sequence.clearHistory();
      try {
        await this.sequence.loadStateFromFile(path, { acceptRisk: true });
      } catch (error) {
        throw new LlamaCppPeerError(`llama.cpp could not load the cache ${path}: ${describeFailure(error)}`, {
          cause: error,
        });
      }
    });
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    await this.pending.catch(() => undefined);
    await this.context.dispose();
    await super.close();
  }

  // Every call starts from an empty KV cache: nothing carries over from the previous call.
  private async freshSequence(): Promise<LlamaContextSequence> {
    await this.sequence.clearHistory();
    return this.sequence;
  }

  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    this.checkOpen();
    const result = this.pending.catch(() => undefined).then(run);
    this.pending = result;
    return result;
  }

  private checkPrompt(promptIds: readonly number[]): Token[] {
    if (promptIds.length === 0) {
      throw new PeerInputError('the prompt is empty; pass at least one token id (e.g. BOS)');
    }
    return this.checkIds(promptIds, 'promptIds');
  }

  private checkFits(tokens: number, what: string): void {
    if (tokens > this.contextSize) {
      throw new PeerInputError(
        `${what} (${tokens} tokens) exceed the context of ${this.contextSize}; ` +
          'open the peer with a larger contextSize',
      );
    }
  }
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new PeerInputError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new PeerInputError(`threads must be a positive integer, got ${threads}`);
  }
}
