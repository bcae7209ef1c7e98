import type { GpuContext, PagedAttentionBatch, StepRecorder } from '@llm/kernels';
import { AttentionShapeError } from './errors.js';
import { planPrefill, prefillTileCount } from './flash-prefill.wgsl.js';
import type { PrefillPlan } from './flash-prefill.wgsl.js';
import { planDecode } from './split-k-decode.wgsl.js';
import type { DecodePlan } from './split-k-decode.wgsl.js';

export type AttentionMode = 'auto' | 'prefill' | 'decode';

export interface AttentionOptions {
  /**
   * 'auto' (default) runs the decode kernel when every sequence has exactly one query token and
   * the flash prefill kernel otherwise. Both kernels accept any batch.
   */
  mode?: AttentionMode;
}

/** What {@link attention} recorded. */
export interface AttentionDispatch {
  kernel: 'prefill' | 'decode';
  /** Decode: keys per split; prefill: keys per K/V tile. */
  keysPerWorkgroup: number;
  /** Decode splits per token (1 when no merge was needed); 1 for prefill. */
  splits: number;
  /** Bytes of the split-K scratch buffers this call uses (0 for prefill and single-split decode). */
  scratchBytes: number;
  /** Whether the kernel reduces with subgroup operations. */
  usesSubgroups: boolean;
}

// Decode splits a token's keys until about this many workgroups run: enough to fill a large GPU
// (132 SMs on an H100, two waves) while each split still streams at least MIN_DECODE_CHUNK keys.
const DECODE_TARGET_WORKGROUPS = 256;
const MIN_DECODE_CHUNK = 64;
// Chunk lengths are multiples of this so that the score passes (8 rows of 8 lanes) stay full.
const DECODE_CHUNK_ALIGN = 32;

interface ContextState {
  prefill: Map<string, PrefillPlan>;
  decode: Map<string, DecodePlan>;
  scratch: { acc: GPUBuffer; stats: GPUBuffer } | undefined;
  peakScratchBytes: number;
}

const states = new WeakMap<GpuContext, ContextState>();

function stateOf(ctx: GpuContext): ContextState {
  let state = states.get(ctx);
  if (!state) {
    state = { prefill: new Map(), decode: new Map(), scratch: undefined, peakScratchBytes: 0 };
    states.set(ctx, state);
  }
  return state;
}

/**
 * Records attention for a packed variable-length batch over the paged KV pool: causal, MHA, GQA
 * or MQA. The KV pool must already hold the new tokens' K and V (see {@link kvWrite}).
 */
export function attention(
  rec: StepRecorder,
  batch: PagedAttentionBatch,
  opts: AttentionOptions = {},
): AttentionDispatch {
  const ctx = rec.ctx;
  checkBatch(ctx, batch);
  const mode = opts.mode ?? 'auto';
  const decode = mode === 'decode' || (mode === 'auto' && batch.numTokens === batch.numSeqs);
  return decode ? recordDecode(ctx, rec, batch) : recordPrefill(ctx, rec, batch);
}

/** Largest split-K scratch (bytes) attention has held on this context. */
export function attentionScratchBytes(ctx: GpuContext): number {
  return stateOf(ctx).peakScratchBytes;
}

function recordPrefill(ctx: GpuContext, rec: StepRecorder, b: PagedAttentionBatch): AttentionDispatch {
  const state = stateOf(ctx);
  const key = `${b.numHeads}/${b.numKvHeads}/${b.headDim}/${b.blockSize}`;
  let plan = state.prefill.get(key);
  if (!plan) {
    plan = planPrefill({
      numHeads: b.numHeads,
      numKvHeads: b.numKvHeads,
      headDim: b.headDim,
      blockSize: b.blockSize,
      workgroupStorageBytes: ctx.limits.maxComputeWorkgroupStorageSize,
      maxInvocations: ctx.limits.maxComputeInvocationsPerWorkgroup,
    });
    state.prefill.set(key, plan);
  }
  const tiles = prefillTileCount(plan, b.numTokens, b.numSeqs);
  const params = new Uint32Array([b.numTokens, b.numSeqs, b.maxBlocksPerSeq, 0]);
  new Float32Array(params.buffer)[3] = b.scale;
  rec.dispatch(
    ctx.pipeline(plan.kernel),
    params,
    [b.q, b.kCache, b.vCache, b.blockTables, b.queryStarts, b.contextLens, b.out],
    [checkGrid(ctx, 'query tiles', tiles), b.numKvHeads * plan.headChunks],
  );
  return { kernel: 'prefill', keysPerWorkgroup: plan.keyTile, splits: 1, scratchBytes: 0, usesSubgroups: false };
}

function recordDecode(ctx: GpuContext, rec: StepRecorder, b: PagedAttentionBatch): AttentionDispatch {
  const state = stateOf(ctx);
  const subgroupMinSize = ctx.features.subgroups ? (ctx.device.adapterInfo?.subgroupMinSize ?? 4) : 0;
  const key = `${b.numHeads}/${b.numKvHeads}/${b.headDim}/${b.blockSize}/${subgroupMinSize}`;
  let plan = state.decode.get(key);
  if (!plan) {
    plan = planDecode({
      numHeads: b.numHeads,
      numKvHeads: b.numKvHeads,
      headDim: b.headDim,
      blockSize: b.blockSize,
      workgroupStorageBytes: ctx.limits.maxComputeWorkgroupStorageSize,
      subgroupMinSize,
    });
    state.decode.set(key, plan);
  }
  const perSplit = b.numTokens * b.numKvHeads * plan.headChunks;
  const wantedSplits = Math.max(1, Math.ceil(DECODE_TARGET_WORKGROUPS / perSplit));
  let chunk = Math.ceil(Math.ceil(b.maxContextLen / wantedSplits) / DECODE_CHUNK_ALIGN) * DECODE_CHUNK_ALIGN;
  chunk = Math.min(plan.maxChunk, Math.max(MIN_DECODE_CHUNK, chunk));
  let splits = Math.ceil(b.maxContextLen / chunk);
  // Per-split partial rows must fit one binding: take longer chunks, up to what one holds.
  const rowBytes = b.numTokens * b.numHeads * b.headDim * 4;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  while (splits > 1 && rowBytes * splits > maxBinding && chunk < plan.maxChunk) {
    chunk = Math.min(plan.maxChunk, chunk * 2);
    splits = Math.ceil(b.maxContextLen / chunk);
  }
  if (splits > 1 && rowBytes * splits > maxBinding) {
    throw new AttentionShapeError(
      'attention',
      `decode of ${b.numTokens} tokens at context ${b.maxContextLen} needs ${rowBytes * splits} bytes of ` +
        `split partials, more than one binding holds (${maxBinding}); decode fewer tokens per call`,
    );
  }
  const params = new Uint32Array([b.numTokens, b.maxBlocksPerSeq, chunk, splits, 0]);
  new Float32Array(params.buffer)[4] = b.scale;
  const inputs = [b.q, b.kCache, b.vCache, b.blockTables, b.queryStarts, b.contextLens, b.tokenSeqIds];
  const grid: [number, number, number] = [
    checkGrid(ctx, 'decode tokens', b.numTokens),
    b.numKvHeads * plan.headChunks,
    checkGrid(ctx, 'decode splits', splits),
  ];
  const info = { kernel: 'decode', keysPerWorkgroup: chunk, splits, usesSubgroups: plan.usesSubgroups } as const;
  if (splits === 1) {
    rec.dispatch(ctx.pipeline(plan.single), params, [...inputs, b.out], grid);
    return { ...info, scratchBytes: 0 };
  }
  const accBytes = rowBytes * splits;
  const statsBytes = b.numTokens * b.numHeads * splits * 8;
  const scratch = scratchFor(ctx, state, accBytes, statsBytes);
  rec.dispatch(ctx.pipeline(plan.partial), params, [...inputs, scratch.acc, scratch.stats], grid);
  const outputs = b.numTokens * b.numHeads * (b.headDim / 4);
  const groups = Math.ceil(outputs / plan.mergeInvocations);
  const maxPerDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / maxPerDim);
  rec.dispatch(
    ctx.pipeline(plan.merge),
    params,
    [scratch.acc, scratch.stats, b.queryStarts, b.contextLens, b.tokenSeqIds, b.out],
    [Math.ceil(groups / y), y],
  );
  return { ...info, scratchBytes: accBytes + statsBytes };
}

/**
 * Split partials live in one pair of buffers per context, grown on demand. Dispatches recorded
 * earlier keep the buffers they were given, so growing never disturbs a step being recorded.
 */
function scratchFor(ctx: GpuContext, state: ContextState, accBytes: number, statsBytes: number) {
  const have = state.scratch;
  if (have && have.acc.size >= accBytes && have.stats.size >= statsBytes) return have;
  const scratch = {
    acc: ctx.createBuffer(Math.max(accBytes, have?.acc.size ?? 0), 'attention split partials'),
    stats: ctx.createBuffer(Math.max(statsBytes, have?.stats.size ?? 0), 'attention split statistics'),
  };
  state.scratch = scratch;
  state.peakScratchBytes = Math.max(state.peakScratchBytes, scratch.acc.size + scratch.stats.size);
  return scratch;
}

function checkGrid(ctx: GpuContext, what: string, count: number): number {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (count > max) {
    throw new AttentionShapeError('attention', `${count} ${what} exceed ${max} workgroups per dimension; split the batch`);
  }
  return count;
}

function checkBatch(ctx: GpuContext, b: PagedAttentionBatch): void {
  const ints: Array<[string, number, number]> = [
    ['numTokens', b.numTokens, 1],
    ['numSeqs', b.numSeqs, 1],
    ['maxBlocksPerSeq', b.maxBlocksPerSeq, 1],
    ['maxContextLen', b.maxContextLen, 1],
    ['numHeads', b.numHeads, 1],
    ['numKvHeads', b.numKvHeads, 1],
    ['headDim', b.headDim, 4],
    ['blockSize', b.blockSize, 1],
  ];
  for (const [name, value, min] of ints) {
    if (!Number.isInteger(value) || value < min) {
      throw new AttentionShapeError('attention', `${name} must be an integer >= ${min}, got ${value}`);
    }
  }
  if (b.numSeqs > b.numTokens) {
    throw new AttentionShapeError('attention', `numSeqs ${b.numSeqs} exceeds numTokens ${b.numTokens}: every sequence needs a query token`);
  }
  if (b.maxContextLen > b.maxBlocksPerSeq * b.blockSize) {
    throw new AttentionShapeError(
      'attention',
      `maxContextLen ${b.maxContextLen} exceeds maxBlocksPerSeq ${b.maxBlocksPerSeq} x blockSize ${b.blockSize}`,
    );
  }
  if (!Number.isFinite(b.scale)) {
    throw new AttentionShapeError('attention', `scale must be finite, got ${b.scale}`);
  }
  const rowBytes = b.numHeads * b.headDim * 4;
  const kvRowBytes = b.blockSize * b.numKvHeads * b.headDim * 4;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  const need: Array<[string, GPUBuffer, number]> = [
    ['q', b.q, b.numTokens * rowBytes],
    ['out', b.out, b.numTokens * rowBytes],
    ['kCache', b.kCache, kvRowBytes],
    ['vCache', b.vCache, kvRowBytes],
    ['blockTables', b.blockTables, b.numSeqs * b.maxBlocksPerSeq * 4],
    ['queryStarts', b.queryStarts, (b.numSeqs + 1) * 4],
    ['contextLens', b.contextLens, b.numSeqs * 4],
    ['tokenSeqIds', b.tokenSeqIds, b.numTokens * 4],
  ];
  for (const [name, buffer, bytes] of need) {
    if (buffer.size < bytes) {
      throw new AttentionShapeError('attention', `${name} holds ${buffer.size} bytes but the batch needs ${bytes}`);
    }
    if (buffer.size > maxBinding) {
      throw new AttentionShapeError(
        'attention',
        `${name} is ${buffer.size} bytes, more than one storage binding holds on this adapter ` +
          `(${maxBinding}); use a smaller KV pool per layer or fewer tokens per step`,
      );
    }
  }
  if (b.kCache.size !== b.vCache.size) {
    throw new AttentionShapeError('attention', `kCache (${b.kCache.size} bytes) and vCache (${b.vCache.size} bytes) differ in size`);
  }
  if (b.out === b.q) {
    throw new AttentionShapeError('attention', 'out must not be the same buffer as q');
  }
}
