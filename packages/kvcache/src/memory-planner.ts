import { dtypeBytes, elementType, KV_DTYPES, type KvDtype } from '@llm/quant';
import * as z from 'zod/mini';
import { KvCacheOptionsError, KvPlanError } from './errors.js';
import { englishMessages } from './zod-messages.js';

// i8 and i4 carry one f16 scale per quantization group besides their elements.
const isQuantized = (dtype: KvDtype): boolean => elementType(dtype).kind === 'integer';
// Scales are stored as f16: enough range for per-group absmax scales, half the bytes of f32.
const SCALE_BYTES = 2;
// Slots are int32 in the kernels; a pool cannot index more tokens than that.
const MAX_SLOTS = 2 ** 31 - 1;

const modelShapeSchema = z.strictObject({
  numLayers: z.int().check(z.positive()),
  numKvHeads: z.int().check(z.positive()),
  headDim: z.int().check(z.positive()),
  /** Longest sequence the model serves (max_model_len): the pool must hold one of these. */
  contextLength: z.int().check(z.positive()),
});

export const kvMemoryPlanInputSchema = z
  .strictObject({
    /** Bytes the KV pool may take. Give this, or deviceBytes (+ memoryFraction, reservedBytes). */
    budgetBytes: z.optional(z.number().check(z.positive())),
    /** Device memory in bytes; the pool gets deviceBytes * memoryFraction - reservedBytes. */
    deviceBytes: z.optional(z.number().check(z.positive())),
    /** Fraction of deviceBytes the engine may use in all; 0.9 as vLLM's gpu_memory_utilization. */
    memoryFraction: z.optional(z.number().check(z.gt(0), z.lte(1))),
    /** Bytes inside that fraction taken by other things (weights, activations, workspace). */
    reservedBytes: z.optional(z.number().check(z.nonnegative())),
    model: modelShapeSchema,
    kvDtype: z._default(z.enum(KV_DTYPES), 'f16'),
    /** i8/i4 only: consecutive head-dim elements of one token sharing a scale; default headDim. */
    quantGroupSize: z.optional(z.int().check(z.positive())),
    blockSize: z._default(z.int().check(z.positive(), z.maximum(4096)), 16),
    /** Length to report capacity for (maxSequences); default model.contextLength. */
    sequenceLength: z.optional(z.int().check(z.positive())),
  })
  .check(
    z.superRefine((o, ctx) => {
      if ((o.budgetBytes === undefined) === (o.deviceBytes === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: 'give exactly one of budgetBytes or deviceBytes',
          path: ['budgetBytes'],
        });
      }
      if (o.budgetBytes !== undefined && (o.memoryFraction !== undefined || o.reservedBytes !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          message:
            'memoryFraction and reservedBytes apply to deviceBytes; with budgetBytes give the KV bytes directly',
          path: ['memoryFraction'],
        });
      }
      if (o.quantGroupSize !== undefined) {
        if (!isQuantized(o.kvDtype)) {
          ctx.addIssue({
            code: 'custom',
            message: `quantGroupSize applies to i8/i4 only, not ${o.kvDtype}`,
            path: ['quantGroupSize'],
          });
        } else if (o.model.headDim % o.quantGroupSize !== 0) {
          ctx.addIssue({
            code: 'custom',
            message: `quantGroupSize ${o.quantGroupSize} must divide headDim ${o.model.headDim}`,
            path: ['quantGroupSize'],
          });
        }
      }
      if (o.sequenceLength !== undefined && o.sequenceLength > o.model.contextLength) {
        ctx.addIssue({
          code: 'custom',
          message: `sequenceLength ${o.sequenceLength} exceeds model.contextLength ${o.model.contextLength}`,
          path: ['sequenceLength'],
        });
      }
    }),
  );

export type KvMemoryPlanInput = z.input<typeof kvMemoryPlanInputSchema>;
export type KvModelShape = z.input<typeof modelShapeSchema>;

export interface KvMemoryPlan {
  readonly kvDtype: KvDtype;
  readonly blockSize: number;
  /** Elements per scale (i8/i4), or null for float types. */
  readonly quantGroupSize: number | null;
  /** Bytes available to the pool. */
  readonly budgetBytes: number;
  readonly numBlocks: number;
  /** K and V data of one block: 2 x layers x kvHeads x headDim x blockSize x element bytes. */
  readonly dataBytesPerBlock: number;
  /** Scales of one block: 2 x layers x kvHeads x blockSize x (headDim / quantGroupSize) x 2 bytes. */
  readonly scaleBytesPerBlock: number;
  readonly bytesPerBlock: number;
  readonly bytesPerToken: number;
  /** numBlocks x bytesPerBlock: what the engine allocates (at most budgetBytes). */
  readonly poolBytes: number;
  readonly tokenCapacity: number;
  readonly sequenceLength: number;
  readonly blocksPerSequence: number;
  /** Sequences of `sequenceLength` tokens that fit at once (no sharing). */
  readonly maxSequences: number;
}

interface BlockBytes {
  readonly data: number;
  readonly scales: number;
}

function blockBytes(
  shape: z.output<typeof modelShapeSchema>,
  dtype: KvDtype,
  blockSize: number,
  quantGroupSize: number,
): BlockBytes {
  const elements = 2 * shape.numLayers * shape.numKvHeads * shape.headDim * blockSize;
  const data = elements * dtypeBytes(dtype);
  const scales = isQuantized(dtype) ? (elements / quantGroupSize) * SCALE_BYTES : 0;
  return { data, scales };
}

/**
 * Sizes the paged KV pool: bytes per block from the model shape and element type, the number of
 * blocks the budget holds, and how many sequences fit. Throws KvPlanError when the budget cannot
 * hold even one sequence of the model's context, KvCacheOptionsError on malformed input.
 */
export function planKvCacheMemory(input: KvMemoryPlanInput): KvMemoryPlan {
  const parsed = kvMemoryPlanInputSchema.safeParse(input, { error: englishMessages });
  if (!parsed.success) {
    throw new KvCacheOptionsError(`invalid KV memory plan input:\n${z.prettifyError(parsed.error)}`);
  }
  const o = parsed.data;
  const { model, kvDtype, blockSize } = o;
  const quantized = isQuantized(kvDtype);
  const groupSize = o.quantGroupSize ?? model.headDim;
  const reserved = o.reservedBytes ?? 0;
  const fraction = o.memoryFraction ?? 0.9;
  const budgetBytes =
    o.budgetBytes !== undefined
      ? Math.floor(o.budgetBytes)
      : Math.floor(o.deviceBytes! * fraction) - reserved;
  if (budgetBytes <= 0) {
    throw new KvPlanError(
      `no memory left for the KV cache: ${formatBytes(o.deviceBytes!)} x memoryFraction ${fraction} ` +
        `minus reservedBytes ${formatBytes(reserved)} is ${formatBytes(budgetBytes)}; raise memoryFraction ` +
        `or reduce what reservedBytes accounts for (a smaller or more quantized model).`,
    );
  }

  const { data, scales } = blockBytes(model, kvDtype, blockSize, groupSize);
  const bytesPerBlock = data + scales;
  const numBlocks = Math.min(Math.floor(budgetBytes / bytesPerBlock), Math.floor(MAX_SLOTS / blockSize));
  const contextBlocks = Math.ceil(model.contextLength / blockSize);
  if (numBlocks < contextBlocks) {
    throw new KvPlanError(refusal(o, budgetBytes, bytesPerBlock, numBlocks));
  }

  const sequenceLength = o.sequenceLength ?? model.contextLength;
  const blocksPerSequence = Math.ceil(sequenceLength / blockSize);
  return {
    kvDtype,
    blockSize,
    quantGroupSize: quantized ? groupSize : null,
    budgetBytes,
    numBlocks,
    dataBytesPerBlock: data,
    scaleBytesPerBlock: scales,
    bytesPerBlock,
    bytesPerToken: bytesPerBlock / blockSize,
    poolBytes: numBlocks * bytesPerBlock,
    tokenCapacity: numBlocks * blockSize,
    sequenceLength,
    blocksPerSequence,
    maxSequences: Math.floor(numBlocks / blocksPerSequence),
  };
}

function refusal(
  o: z.output<typeof kvMemoryPlanInputSchema>,
  budgetBytes: number,
  bytesPerBlock: number,
  numBlocks: number,
): string {
  const { model, kvDtype, blockSize } = o;
  const contextBlocks = Math.ceil(model.contextLength / blockSize);
  const neededBytes = contextBlocks * bytesPerBlock;
  const fixes: string[] = [];
  if (o.deviceBytes !== undefined) {
    const reserved = o.reservedBytes ?? 0;
    const fraction = (neededBytes + reserved) / o.deviceBytes;
    fixes.push(
      fraction <= 1
        ? `raise memoryFraction to at least ${Math.ceil(fraction * 1000) / 1000}`
        : `free device memory (reservedBytes ${formatBytes(reserved)} leaves too little)`,
    );
  } else {
    fixes.push(`raise budgetBytes to at least ${neededBytes} (${formatBytes(neededBytes)})`);
  }
  if (numBlocks > 0) fixes.push(`lower contextLength to at most ${numBlocks * blockSize} tokens`);
  const smaller = KV_DTYPES.filter((d) => {
    if (dtypeBytes(d) >= dtypeBytes(kvDtype)) return false;
    const b = blockBytes(model, d, blockSize, model.headDim);
    return Math.floor(budgetBytes / (b.data + b.scales)) >= contextBlocks;
  });
  if (smaller.length > 0) fixes.push(`use a smaller kvDtype (${smaller.join(' or ')} fits)`);
  return (
    `KV budget of ${formatBytes(budgetBytes)} holds ${numBlocks} blocks of ${formatBytes(bytesPerBlock)} ` +
    `(${numBlocks * blockSize} tokens, ${kvDtype}), but one sequence of contextLength ${model.contextLength} ` +
    `needs ${contextBlocks} blocks (${formatBytes(neededBytes)}); ${fixes.join(', or ')}.`
  );
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)} ${units[u]}`;
}
