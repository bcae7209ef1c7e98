import { availableParallelism } from 'node:os';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { LlamaCppPeerError, PeerInputError } from './errors.js';
import { describeFailure } from './llama-runtime.js';
import { LlamaCppTokenizer, loadModel, type PeerTokenizer } from './tokenizer.js';

export interface PeerOptions {
  /**
   * Tokens one evaluation may hold (prompt plus generated tokens). llama.cpp may round it up to
   * a multiple of 256. Default: the model's training context, at most 4096.
   */
  contextSize?: number;
  /** CPU threads for greedy() and logits(). Default: the machine's cores. */
  threads?: number;
}

export interface DecodeSpeedOptions {
  /** CPU threads for the measured decode. Default: the machine's cores. */
  threads?: number;
}

/** One GGUF model loaded in llama.cpp on the CPU: a reference for outputs and for speed. */
export interface Peer extends PeerTokenizer {
  /** The context size llama.cpp allocated (may exceed the one asked for). */
  readonly contextSize: number;
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
}

// Greedy sampling ignores the seed; it is fixed anyway so that no run depends on the clock
// (node-llama-cpp's default seed is the current time).
const SAMPLING_SEED = 0;
// temperature 0 makes node-llama-cpp's sampler chain a bare llama_sampler_init_greedy();
// yieldEogToken hands the end token back, as the engine reports it.
const greedyOptions = { temperature: 0, seed: SAMPLING_SEED, yieldEogToken: true } as const;
// Beyond this the KV cache of a 7B-class model alone passes 2 GiB: plenty for a reference run.
const DEFAULT_MAX_CONTEXT = 4096;

/** Loads a GGUF file into llama.cpp (mmap, CPU only). Throws PeerUnavailableError when llama.cpp cannot run here. */
export async function openPeer(ggufPath: string, options: PeerOptions = {}): Promise<Peer> {
  const threads = options.threads ?? availableParallelism();
  checkThreads(threads);
  if (options.contextSize !== undefined) checkCount('contextSize', options.contextSize, 1);
  const model = await loadModel(ggufPath, false);
  try {
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize, DEFAULT_MAX_CONTEXT);
    const context = await model.createContext({ contextSize, threads, sequences: 1 });
    return new LlamaCppPeer(model, context);
  } catch (error) {
    await model.dispose();
    throw new LlamaCppPeerError(
      `llama.cpp could not create a context for ${ggufPath}: ${describeFailure(error)}`,
      { cause: error },
    );
  }
}

class LlamaCppPeer extends LlamaCppTokenizer implements Peer {
  readonly contextSize: number;
  // One sequence serves every call, so calls run one after another.
  private readonly sequence: LlamaContextSequence;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    model: LlamaModel,
    private readonly context: LlamaContext,
  ) {
    super(model);
    this.contextSize = context.contextSize;
    this.sequence = context.getSequence();
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
