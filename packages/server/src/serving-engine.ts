import type { Tokenizer } from '@llm/tokenizer';

/**
 * What the server asks of an engine, written out here so that the server depends on no GPU
 * package: @llm/engine's Engine satisfies these interfaces structurally, and a test or another
 * program may serve any engine that does.
 */
export interface ServingRequest {
  /** Prompt token ids, used verbatim. */
  promptIds: readonly number[];
  /** Most tokens to generate per completion; the server has checked it fits the context. */
  maxTokens: number;
  sampling: {
    temperature: number;
    topP: number;
    topK: number;
    minP: number;
    repetitionPenalty: number;
    presencePenalty: number;
    frequencyPenalty: number;
    /** Added to a token's logit; keys are token ids. */
    logitBias: Record<string, number>;
  };
  seed?: number;
  stop?: readonly string[];
  stopTokenIds?: readonly number[];
  includeStopStrInOutput?: boolean;
  minTokens?: number;
  ignoreEos?: boolean;
  /** Log-probability of each sampled token with this many top alternatives. */
  logprobs?: number;
  /** Completions of the prompt. */
  n?: number;
  /** Constrain the output to a grammar (JSON Schema, any JSON object, EBNF, regex, structural tag). */
  grammar?: ServingGrammar;
}

/** What a constrained request's output must match (@llm/engine's GrammarSpec). */
export type ServingGrammar =
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: Record<string, unknown> | boolean }
  | { type: 'ebnf'; grammar: string }
  | { type: 'regex'; pattern: string }
  | { type: 'structural_tag'; format: Record<string, unknown> };

export interface TokenLogprob {
  tokenId: number;
  logprob: number;
}

/** A sampled token's log-probability and the most probable alternatives at its position. */
export interface TopLogprobsRow extends TokenLogprob {
  top: TokenLogprob[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** What one engine step added to one completion of a request. */
export interface ServingDelta {
  /** Which completion (0..n-1). */
  readonly index: number;
  readonly tokenIds: readonly number[];
  /** Text that became final; may be empty while text that could start a stop string is held. */
  readonly text: string;
  /** One per token of tokenIds, when logprobs were asked for. */
  readonly logprobs?: readonly TopLogprobsRow[];
  /** Set on the completion's last delta. */
  readonly finishReason?: FinishReason;
  /** The stop string or stop token id that ended it. */
  readonly stopReason?: string | number;
}

export interface ServingResult {
  readonly promptTokenIds: readonly number[];
  readonly completions: readonly {
    index: number;
    tokenIds: readonly number[];
    text: string;
    finishReason: FinishReason;
    stopReason?: string | number;
    logprobs?: readonly TopLogprobsRow[];
  }[];
  readonly usage: { promptTokens: number; completionTokens: number };
  readonly cachedPromptTokens: number;
  /** performance.now() times of the request's life. */
  readonly metrics: {
    arrivalMs: number;
    scheduledMs: number | undefined;
    firstTokenMs: number | undefined;
    finishedMs: number;
  };
}

/** A submitted request: iterate it for deltas, await `result()` for the whole. */
export interface ServingStream extends AsyncIterable<ServingDelta> {
  result(): Promise<ServingResult>;
  abort(): void;
}

/** Running totals since the engine started, and its state now. */
export interface ServingTotals {
  promptTokens: number;
  generationTokens: number;
  preemptions: number;
  /** Prefix cache lookups and hits, in tokens. */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  numRunning: number;
  numWaiting: number;
  /** Fraction of the KV pool held by sequences, 0..1 (reclaimable cached blocks count as free). */
  kvCacheUsage: number;
}

export interface ServingEngine {
  /**
   * Submits a request. Throws errors with a `code` (LlmError's codes: `invalid_argument`,
   * `resource_exhausted` for a full queue, `unavailable` once the engine has stopped, ...).
   */
  generate(request: ServingRequest, options?: { signal?: AbortSignal }): ServingStream;
  totals(): ServingTotals;
  /**
   * Compiles a grammar ahead of generate(), so that a bad one is a 400 before anything streams;
   * throws an error with code `invalid_argument` that names the problem. Engines without
   * constrained decoding leave it out, and the server answers grammar requests with a 400.
   */
  prepareGrammar?(grammar: ServingGrammar): Promise<void>;
  /** Why the engine stopped serving; undefined while it can serve. */
  readonly failure: unknown;
}

/** A chat message as OpenAI's API carries it; fields beyond these reach the renderer untouched. */
export interface ChatMessage {
  role: string;
  content: string | null | Array<{ type: 'text'; text: string }>;
  name?: string;
  [k: string]: unknown;
}

/** Renders a conversation to prompt token ids (chat template + special-token parsing); implemented by @llm/tokenizer's ChatTemplate elsewhere. */
export interface ChatPromptRenderer {
  renderToIds(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt: boolean; tools?: readonly unknown[] },
  ): number[];
}

/** A loaded model, as the server serves it. */
export interface ServedModel {
  /** Served model name: what requests give as `model`. */
  name: string;
  engine: ServingEngine;
  tokenizer: Tokenizer;
  chat: ChatPromptRenderer;
  /** Longest sequence (prompt and output) a request may ask for. */
  maxModelLen: number;
  /** For the `vllm:cache_config_info` metric. */
  cacheConfig: { blockSize: number; numGpuBlocks: number };
  /** Seconds since the epoch, for /v1/models' `created`; default: when it was attached. */
  createdSec?: number;
}
