import { GPU_KV_DTYPES, kvI4Groups, LlmError, type ErrorCode, type GpuKvDtype } from '@llm/quant';
import { kvPoolRowBytes } from '@llm/kernels';
import { KvPlanError, planKvCacheMemory } from '@llm/kvcache';
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';
import type { LlamaConfig } from '@llm/formats';

/** Runner options that cannot make a KV pool: a bad option, or a budget too small for the model. */
export class KvPoolError extends LlmError {
  override readonly name = 'KvPoolError';
  constructor(message: string, code: ErrorCode = 'invalid_argument', options?: ErrorOptions) {
    super(code, message, options);
  }
}

// Without a budget the pool holds this many sequences of the model's full context, as it always
// has: one request at full length plus room for the next to start.
const DEFAULT_FULL_CONTEXT_SEQUENCES = 2;

// zod/mini registers no locale; per parse, so that the host's zod configuration is left alone.
const englishMessages = en().localeError;

export const runnerOptionsSchema = z.object({
  // 16 tokens per block: vLLM's default; waste is confined to each sequence's last block.
  blockSize: z.optional(z.int().check(z.positive(), z.maximum(1024))),
  /**
   * Bytes the KV pool (K and V of every layer) may take; the memory planner turns them into
   * whole blocks. Default: room for two sequences of the full context.
   */
  kvBudgetBytes: z.optional(z.number().check(z.positive())),
  /** Largest step in tokens; longer prompts are prefilled in chunks of this size. */
  maxStepTokens: z.optional(z.int().check(z.positive())),
  /** Most sequences in one step. */
  maxSeqs: z.optional(z.int().check(z.positive())),
  /**
   * Element type of the KV pool: 'f32' (default, exact) or 'f16' (half the memory, what
   * llama.cpp and vLLM keep; attention still computes in f32).
   */
  kvDtype: z.optional(z.enum(GPU_KV_DTYPES)),
  /**
   * Longest sequence (prompt and output) the runner serves, at most the model's context (vLLM's
   * max_model_len): the KV pool then needs room for one sequence of this length only.
   */
  maxModelLen: z.optional(z.int().check(z.positive())),
  /**
   * Keep a token's results independent of what else shares its step (default true), so a request
   * gives the same tokens alone or batched. On CPU adapters this costs nothing; on GPUs it keeps
   * linear layers on the matrix-vector kernel at every batch size instead of the tiled matmul.
   */
  batchInvariant: z.optional(z.boolean()),
  /**
   * 'int8': products over Q4_0 and Q8_0 weights take their input quantized to int8 per 32-value
   * group and sum integers (@llm/kernels' `activations: 'int8'`), as llama.cpp's CPU backend does;
   * on adapters with subgroups of a fixed size of at least 8 (CPU adapters), else ignored. Other
   * weight types, and a token embedding the LM head shares, stay on the float path. Default 'f32'.
   */
  activations: z.optional(z.enum(['f32', 'int8'])),
  /**
   * W8A8 with SmoothQuant: every transformer layer's products take int8 weights (one scale per
   * output row) and int8 activations (one scale per token) through packed integer dot products,
   * after SmoothQuant's factors (strength `alpha`, default 0.5) move the activations' outlier
   * channels into the weights. The factors come from the activations of `calibration`, token
   * sequences run through the model once on the CPU at load. The token embedding and the LM head
   * stay as stored. For f32, f16 and bf16 weights; the webgpu runner only.
   */
  w8a8: z.optional(
    z.object({
      calibration: z.array(z.array(z.int().check(z.nonnegative())).check(z.minLength(1))).check(z.minLength(1)),
      alpha: z.optional(z.number().check(z.gte(0), z.lte(1))),
    }),
  ),
});

export type RunnerOptions = z.input<typeof runnerOptionsSchema>;

export interface ResolvedRunnerOptions {
  /** The model's config with contextLength capped at maxModelLen. */
  readonly config: LlamaConfig;
  readonly blockSize: number;
  readonly numBlocks: number;
  /** What the pool takes: numBlocks x bytes per block (at most the budget). */
  readonly kvPoolBytes: number;
  readonly maxStepTokens: number;
  readonly maxSeqs: number;
  readonly kvDtype: GpuKvDtype;
  readonly batchInvariant: boolean;
  readonly activations: 'f32' | 'int8';
  readonly w8a8: { readonly calibration: readonly (readonly number[])[]; readonly alpha: number | undefined } | undefined;
}

/**
 * Bytes one KV block takes in one layer's K buffer (or V buffer): the pool's unit of layout. An i8
 * block holds its rows' f16 scales too (headDim + 2 bytes a row), an i4 block its groups' (headDim /
 * 2 + 2 bytes a group), as @llm/kvcache's planner counts.
 */
export function kvLayerBlockBytes(config: LlamaConfig, blockSize: number, kvDtype: GpuKvDtype): number {
  return blockSize * config.numKvHeads * kvPoolRowBytes(kvDtype, config.headDim);
}

/** Bytes one KV block takes in the whole pool (K and V of every layer): what a kvBudgetBytes buys. */
export function kvPoolBlockBytes(config: LlamaConfig, blockSize: number, kvDtype: GpuKvDtype): number {
  return 2 * config.numLayers * kvLayerBlockBytes(config, blockSize, kvDtype);
}

/**
 * Validates runner options and sizes the KV pool from the budget through @llm/kvcache's memory
 * planner. Throws KvPoolError for malformed options and when the budget cannot hold one sequence
 * of the model's context.
 */
export function resolveRunnerOptions(modelConfig: LlamaConfig, options: RunnerOptions): ResolvedRunnerOptions {
  const parsed = runnerOptionsSchema.safeParse(options, { error: englishMessages });
  if (!parsed.success) throw new KvPoolError(`invalid runner options: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  if (o.maxModelLen !== undefined && o.maxModelLen > modelConfig.contextLength) {
    throw new KvPoolError(
      `maxModelLen ${o.maxModelLen} is beyond the model's context of ${modelConfig.contextLength} tokens; ` +
        'give at most that',
    );
  }
  const config = { ...modelConfig, contextLength: o.maxModelLen ?? modelConfig.contextLength };
  for (const [i, ids] of (o.w8a8?.calibration ?? []).entries()) {
    const bad = ids.find((id) => id >= config.vocabSize);
    if (bad !== undefined || ids.length > config.contextLength) {
      throw new KvPoolError(
        `w8a8.calibration[${i}]: ` +
          (bad !== undefined
            ? `token ${bad} is outside the vocabulary of ${config.vocabSize}`
            : `${ids.length} tokens are beyond the context of ${config.contextLength}`),
      );
    }
  }
  const blockSize = o.blockSize ?? 16;
  const kvDtype = o.kvDtype ?? 'f32';
  if (kvDtype === 'i8' && (blockSize % 2 !== 0 || config.headDim % 4 !== 0)) {
    throw new KvPoolError(
      `an i8 KV cache needs an even blockSize and a head dim that is a multiple of 4 ` +
        `(got blockSize ${blockSize}, head dim ${config.headDim}); use kvDtype 'f16' or an even blockSize`,
    );
  }
  const i4Groups = kvI4Groups(config.headDim);
  if (kvDtype === 'i4' && i4Groups === 0) {
    throw new KvPoolError(
      `an i4 KV cache needs a head dim that is a power of two from 8 to 256 (got ${config.headDim}); ` +
        `use kvDtype 'i8' or 'f16'`,
    );
  }
  const contextBlocks = Math.ceil(config.contextLength / blockSize);
  const blockBytes = kvPoolBlockBytes(config, blockSize, kvDtype);
  const budgetBytes = o.kvBudgetBytes ?? DEFAULT_FULL_CONTEXT_SEQUENCES * contextBlocks * blockBytes;
  let plan;
  try {
    plan = planKvCacheMemory({
      budgetBytes,
      model: {
        numLayers: config.numLayers,
        numKvHeads: config.numKvHeads,
        headDim: config.headDim,
        contextLength: config.contextLength,
      },
      kvDtype,
      blockSize,
      // An i4 row has kvI4Groups scales (kv-pool-format.ts); i8 one per row, the planner's default.
      ...(kvDtype === 'i4' ? { quantGroupSize: config.headDim / i4Groups } : {}),
    });
  } catch (cause) {
    if (!(cause instanceof KvPlanError)) throw cause;
    throw new KvPoolError(`kvBudgetBytes is too small for this model: ${cause.message}`, 'resource_exhausted', {
      cause,
    });
  }
  return {
    config,
    blockSize,
    numBlocks: plan.numBlocks,
    kvPoolBytes: plan.poolBytes,
    maxStepTokens: o.maxStepTokens ?? 512,
    maxSeqs: o.maxSeqs ?? 16,
    kvDtype,
    batchInvariant: o.batchInvariant ?? true,
    activations: o.activations ?? 'f32',
    w8a8: o.w8a8 && { calibration: o.w8a8.calibration, alpha: o.w8a8.alpha },
  };
}
