import { KernelShapeError, grid1d, storageFormat, validatePagedAttentionBatch } from '@llm/kernels';
import type { GpuContext, PagedAttentionBatch, StepRecorder, StorageFormat } from '@llm/kernels';
import { checkHeads, prefillKernel, prefillLayout, prefillTileCount } from './flash-prefill.wgsl.js';
import type { PrefillKernel } from './flash-prefill.wgsl.js';
import { DECODE_MERGE_WORKGROUP, decodeKernels } from './split-k-decode.wgsl.js';
import type { DecodeKernels } from './split-k-decode.wgsl.js';
import { pagedInputBuffers } from './paged-bindings.js';

export type AttentionMode = 'auto' | 'prefill' | 'decode';

export interface AttentionOptions {
  /**
   * 'auto' (default) runs the decode kernel when every sequence has exactly one query token and
   * the flash prefill kernel otherwise. Both kernels accept any batch.
   */
  mode?: AttentionMode;
  /**
   * Decode on subgroups: KV heads side by side in one workgroup (default: as many as fill the
   * adapter's smallest subgroup, one on lavapipe). For tuning and tests.
   */
  kvHeadsPerWorkgroup?: number;
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
  prefill: Map<string, PrefillKernel>;
  decode: Map<string, DecodeKernels>;
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
 * or MQA. The pool must already hold the new tokens' K and V (record {@link kvWrite} first).
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
  return decode ? recordDecode(ctx, rec, batch, opts.kvHeadsPerWorkgroup) : recordPrefill(ctx, rec, batch);
}

/** Largest split-K scratch (bytes) attention has held on this context. */
export function attentionScratchBytes(ctx: GpuContext): number {
  return stateOf(ctx).peakScratchBytes;
}

function recordPrefill(ctx: GpuContext, rec: StepRecorder, b: PagedAttentionBatch): AttentionDispatch {
  const state = stateOf(ctx);
  const pool = poolFormat(ctx, b);
  const key = `${b.headDim}/${pool.tag}`;
  let kernel = state.prefill.get(key);
  if (!kernel) {
    kernel = prefillKernel(b.headDim, ctx.limits.maxComputeWorkgroupStorageSize, pool);
    state.prefill.set(key, kernel);
  }
  const layout = prefillLayout(kernel, b.numHeads, b.numKvHeads);
  const params = {
    numTokens: b.numTokens,
    numSeqs: b.numSeqs,
    maxBlocksPerSeq: b.maxBlocksPerSeq,
    numHeads: b.numHeads,
    numKvHeads: b.numKvHeads,
    headsPerWorkgroup: layout.headsPerWorkgroup,
    headChunks: layout.headChunks,
    tileTokens: layout.tileTokens,
    blockSize: b.blockSize,
    headDim4: b.headDim / 4,
    keyTile: kernel.keyTile,
    scale: b.scale,
  };
  const buffers = {
    ...pagedInputBuffers(b),
    out: b.out,
  };
  rec.dispatchKernel(kernel.source, params, buffers, [
    checkGrid(ctx, 'query tiles', prefillTileCount(layout, b.numTokens, b.numSeqs)),
    checkGrid(ctx, 'KV heads x head chunks', b.numKvHeads * layout.headChunks),
  ]);
  return {
    kernel: 'prefill',
    keysPerWorkgroup: kernel.keyTile,
    splits: 1,
    scratchBytes: 0,
    usesSubgroups: false,
  };
}

function recordDecode(
  ctx: GpuContext,
  rec: StepRecorder,
  b: PagedAttentionBatch,
  kvHeadsPerWorkgroup: number | undefined,
): AttentionDispatch {
  const state = stateOf(ctx);
  const subgroupMinSize = ctx.features.subgroups ? (ctx.device.adapterInfo?.subgroupMinSize ?? 4) : 0;
  const group = b.numHeads / b.numKvHeads;
  const pool = poolFormat(ctx, b);
  const key = `${b.headDim}/${group}/${b.numKvHeads}/${subgroupMinSize}/${kvHeadsPerWorkgroup ?? ''}/${pool.tag}`;
  let kernels = state.decode.get(key);
  if (!kernels) {
    kernels = decodeKernels({
      headDim: b.headDim,
      group,
      numKvHeads: b.numKvHeads,
      workgroupStorageBytes: ctx.limits.maxComputeWorkgroupStorageSize,
      maxInvocations: Math.min(
        ctx.limits.maxComputeInvocationsPerWorkgroup,
        ctx.limits.maxComputeWorkgroupSizeX,
      ),
      subgroupMinSize,
      kvHeadsPerWorkgroup,
      pool,
    });
    state.decode.set(key, kernels);
  }
  const headsPerWorkgroup = Math.min(group, kernels.maxHeads);
  const headChunks = Math.ceil(group / headsPerWorkgroup);
  const maxChunk = kernels.maxChunk(headsPerWorkgroup);
  const kvGroups = Math.ceil(b.numKvHeads / kernels.kvHeadsPerWorkgroup);
  const perSplit = b.numTokens * kvGroups * headChunks;
  const wantedSplits = Math.max(1, Math.ceil(DECODE_TARGET_WORKGROUPS / perSplit));
  let chunk = Math.ceil(Math.ceil(b.maxContextLen / wantedSplits) / DECODE_CHUNK_ALIGN) * DECODE_CHUNK_ALIGN;
  chunk = Math.min(maxChunk, Math.max(MIN_DECODE_CHUNK, chunk));
  let splits = Math.ceil(b.maxContextLen / chunk);
  // Per-split partial rows must fit one binding: take longer chunks, up to what one holds.
  const rowBytes = b.numTokens * b.numHeads * b.headDim * 4;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  while (splits > 1 && rowBytes * splits > maxBinding && chunk < maxChunk) {
    chunk = Math.min(maxChunk, chunk * 2);
    splits = Math.ceil(b.maxContextLen / chunk);
  }
  if (splits > 1 && rowBytes * splits > maxBinding) {
    throw new KernelShapeError(
      'attention',
      `decode of ${b.numTokens} tokens at context ${b.maxContextLen} needs ${rowBytes * splits} bytes of ` +
        `split partials, more than one binding holds (${maxBinding}); decode fewer tokens per call`,
    );
  }
  const direct = splits === 1;
  const params = {
    numTokens: b.numTokens,
    maxBlocksPerSeq: b.maxBlocksPerSeq,
    chunkLen: chunk,
    numSplits: splits,
    numHeads: b.numHeads,
    numKvHeads: b.numKvHeads,
    headsPerWorkgroup,
    headChunks,
    blockSize: b.blockSize,
    headDim4: b.headDim / 4,
    direct: direct ? 1 : 0,
    scale: b.scale,
  };
  const accBytes = direct ? 0 : rowBytes * splits;
  const statsBytes = direct ? 0 : b.numTokens * b.numHeads * splits * 8;
  // A single split writes `out` directly; the scratch bindings are then unused but still bound.
  const scratch = scratchFor(ctx, state, accBytes, statsBytes);
  const buffers = {
    ...pagedInputBuffers(b),
    tokenSeqIds: b.tokenSeqIds,
    out: b.out,
    partialAcc: scratch.acc,
    partialStats: scratch.stats,
  };
  rec.dispatchKernel(kernels.decode, params, buffers, [
    checkGrid(ctx, 'decode tokens', b.numTokens),
    checkGrid(ctx, 'KV head groups x head chunks', kvGroups * headChunks),
    checkGrid(ctx, 'decode splits', splits),
  ]);
  if (!direct) {
    const groups = Math.ceil((b.numTokens * b.numHeads * (b.headDim / 4)) / DECODE_MERGE_WORKGROUP);
    const merged = {
      partialAcc: scratch.acc,
      partialStats: scratch.stats,
      queryStarts: b.queryStarts,
      contextLens: b.contextLens,
      tokenSeqIds: b.tokenSeqIds,
      out: b.out,
    };
    rec.dispatchKernel(
      kernels.merge,
      params,
      merged,
      grid1d(groups, ctx.limits.maxComputeWorkgroupsPerDimension),
    );
  }
  return {
    kernel: 'decode',
    keysPerWorkgroup: chunk,
    splits,
    scratchBytes: accBytes + statsBytes,
    usesSubgroups: kernels.usesSubgroups,
  };
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

/** The batch's pool, read through f16 types where the device has shader-f16. */
function poolFormat(ctx: GpuContext, b: PagedAttentionBatch): StorageFormat {
  return storageFormat(b.kvDtype ?? 'f32', ctx.features.shaderF16);
}

function checkGrid(ctx: GpuContext, what: string, count: number): number {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (count > max) {
    throw new KernelShapeError(
      'attention',
      `${count} ${what} exceed ${max} workgroups per dimension; split the batch`,
    );
  }
  return count;
}

function checkBatch(ctx: GpuContext, b: PagedAttentionBatch): void {
  validatePagedAttentionBatch('attention', b);
  checkHeads(b.numHeads, b.numKvHeads, b.headDim);
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  for (const [name, buffer] of Object.entries({ q: b.q, out: b.out, kCache: b.kCache, vCache: b.vCache })) {
    if (buffer.size > maxBinding) {
      throw new KernelShapeError(
        'attention',
        `${name} is ${buffer.size} bytes, more than one storage binding holds on this adapter ` +
          `(${maxBinding}); use a smaller KV pool per layer or fewer tokens per step`,
      );
    }
  }
}
