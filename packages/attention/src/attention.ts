import {
  KernelShapeError,
  fixedSubgroupSize,
  grid1d,
  kvPoolFormat,
  quantizeGroupsI8,
  requireInt8Activations,
  validatePagedAttentionBatch,
} from '@llm/kernels';
import type { GpuContext, Int8Activations, PagedAttentionBatch, StepRecorder, StorageFormat } from '@llm/kernels';
import { I8_GROUP } from '@llm/quant';
import { checkHeads, prefillKernel, prefillLayout, prefillTileCount } from './flash-prefill.wgsl.js';
import type { PrefillKernel } from './flash-prefill.wgsl.js';
import { DECODE_MERGE_WORKGROUP, decodeKernels } from './split-k-decode.wgsl.js';
import type { DecodeKernels } from './split-k-decode.wgsl.js';
import { pagedInputBuffers } from './paged-bindings.js';
import { rowPrefillKernel, rowPrefillWorkgroups } from './row-prefill.wgsl.js';
import type { RowPrefillKernel } from './row-prefill.wgsl.js';

export type AttentionMode = 'auto' | 'prefill' | 'decode';

export interface AttentionOptions {
  /**
   * 'auto' (default) runs the decode kernel when every sequence has exactly one query token and
   * the flash prefill kernel otherwise. Both kernels accept any batch. Not with `decodeSeqs`.
   */
  mode?: AttentionMode;
  /**
   * One step of continuous batching: sequences [0, decodeSeqs) are single-token decodes (packed
   * tokens [0, decodeSeqs)) and go through the decode kernel, the rest through the prefill
   * kernel, in the same batch and buffers. Each kernel gives a token the same bits whatever
   * else the batch holds, so an engine that always sends generated tokens through the decode
   * kernel and prompt tokens (a final one-token prompt chunk included) through the prefill
   * kernel gets a request's tokens bit for bit the same alone or batched.
   */
  decodeSeqs?: number;
  /**
   * Decode on subgroups: KV heads side by side in one workgroup (default: as many as fill the
   * adapter's smallest subgroup, one on lavapipe). For tuning and tests.
   */
  kvHeadsPerWorkgroup?: number;
  /**
   * The prefill kernel: 'rows' (blocks of query rows on subgroup lanes, no workgroup memory; the
   * default on CPU adapters with a fixed subgroup size) or 'flash' (workgroup-memory tiles; the
   * default elsewhere). Each gives a token the same bits whatever the batch and chunking; the two differ
   * from each other in the last bits.
   */
  prefillKernel?: PrefillKernelKind;
  /**
   * Also write the output quantized to int8 per 32-value group, bit for bit as
   * `quantizeGroupsI8` would from it: the `int8X` of the product that reads it (numHeads x
   * headDim a multiple of 32). The decode kernel on subgroups writes it itself for a step of
   * decodes within one split each (on CPU adapters, contexts up to 512), where a head's lanes
   * hold whole groups (head dims 32, 64, 128, 256); otherwise a quantization dispatch follows.
   */
  int8Out?: Int8Activations | undefined;
}

export type PrefillKernelKind = 'flash' | 'rows';

/** What {@link attention} recorded. */
export interface AttentionDispatch {
  /** 'mixed': decode for the first `decodeSeqs` sequences, prefill for the rest. */
  kernel: 'prefill' | 'decode' | 'mixed';
  /** Tokens that went through the decode kernel: [0, decodeTokens) of the batch. */
  decodeTokens: number;
  /** Decode (also mixed): keys per split; prefill: keys per K/V tile (1 for the row kernel). */
  keysPerWorkgroup: number;
  /** Decode splits of the longest context (1: no merge); 1 for prefill. */
  splits: number;
  /** Bytes of the split-K scratch buffers this call uses (0 for prefill and single-split decode). */
  scratchBytes: number;
  /** Whether the kernels reduce with subgroup operations (decode, and the rows prefill kernel). */
  usesSubgroups: boolean;
  /** The prefill kernel that ran (prefill and mixed), else undefined. */
  prefillKernel?: PrefillKernelKind | undefined;
  /** With `int8Out`: written by the decode kernel itself, or by a quantization dispatch after. */
  int8Out?: 'kernel' | 'dispatch' | undefined;
}

// Keys per decode split, fixed for a model and an adapter, so that a token's splits, and the
// order in which its keys are summed, follow from its own context length alone. CPU adapters
// take 512 keys: measured on lavapipe with TinyLlama's heads (GQA 8:1 and MHA), batches of 1-32
// at contexts 512-4096 ran as fast as with chunks sized for each batch, and mostly faster than
// with 64-256 keys (fewer partials to merge). A GPU needs more workgroups for a lone token: chunks
// that give one token at DECODE_REFERENCE_KEYS keys about DECODE_TARGET_WORKGROUPS workgroups
// (132 SMs on an H100, two waves), from 64 keys up to 512 (where vLLM's paged attention v2
// splits).
const CPU_DECODE_CHUNK = 512;
const DECODE_REFERENCE_KEYS = 4096;
const DECODE_TARGET_WORKGROUPS = 256;
const MIN_DECODE_CHUNK = 64;
const MAX_DECODE_CHUNK = 512;

function decodeChunk(ctx: GpuContext, workgroupsPerSplit: number, maxChunk: number): number {
  let chunk = CPU_DECODE_CHUNK;
  if (!ctx.isCpuAdapter) {
    const wanted = (DECODE_REFERENCE_KEYS * workgroupsPerSplit) / DECODE_TARGET_WORKGROUPS;
    chunk = Math.min(MAX_DECODE_CHUNK, Math.max(MIN_DECODE_CHUNK, 2 ** Math.ceil(Math.log2(wanted))));
  }
  // The portable kernel holds a chunk's scores in workgroup memory, which may take fewer keys.
  return Math.min(chunk, maxChunk);
}

interface ContextState {
  prefill: Map<string, PrefillKernel>;
  rowPrefill: Map<string, RowPrefillKernel>;
  decode: Map<string, DecodeKernels>;
  scratch: { acc: GPUBuffer; stats: GPUBuffer } | undefined;
  peakScratchBytes: number;
}

const states = new WeakMap<GpuContext, ContextState>();

function stateOf(ctx: GpuContext): ContextState {
  let state = states.get(ctx);
  if (!state) {
    state = {
      prefill: new Map(),
      rowPrefill: new Map(),
      decode: new Map(),
      scratch: undefined,
      peakScratchBytes: 0,
    };
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
  const int8 = opts.int8Out;
  const width = batch.numHeads * batch.headDim;
  if (int8) {
    if (width % I8_GROUP !== 0) {
      throw new KernelShapeError('attention', `int8Out needs numHeads x headDim a multiple of ${I8_GROUP}, got ${width}`);
    }
    requireInt8Activations('attention', 'int8Out', int8, batch.numTokens, width);
  }
  const dispatch = recordAttention(ctx, rec, batch, opts);
  if (!int8 || dispatch.int8Out === 'kernel') return dispatch;
  quantizeGroupsI8(rec, { x: batch.out, out: int8, tokens: batch.numTokens, k: width });
  return { ...dispatch, int8Out: 'dispatch' };
}

function recordAttention(
  ctx: GpuContext,
  rec: StepRecorder,
  batch: PagedAttentionBatch,
  opts: AttentionOptions,
): AttentionDispatch {
  const mode = opts.mode ?? 'auto';
  if (opts.decodeSeqs !== undefined) {
    const d = opts.decodeSeqs;
    if (!Number.isInteger(d) || d < 0 || d > batch.numSeqs || mode !== 'auto') {
      throw new KernelShapeError(
        'attention',
        `decodeSeqs must be an integer in [0, ${batch.numSeqs}] and comes without mode, got ${d} (mode ${mode})`,
      );
    }
    if (d === batch.numSeqs && batch.numTokens !== d) {
      throw new KernelShapeError(
        'attention',
        `decodeSeqs ${d} covers every sequence but the batch has ${batch.numTokens} tokens`,
      );
    }
    if (d === 0) return recordPrefill(ctx, rec, batch, 0, opts.prefillKernel);
    // Prefill tokens need the quantization dispatch, which then takes the decodes' too.
    const decode = recordDecode(ctx, rec, batch, d, opts.kvHeadsPerWorkgroup, d === batch.numSeqs ? opts.int8Out : undefined);
    if (d === batch.numSeqs) return decode;
    const prefill = recordPrefill(ctx, rec, batch, d, opts.prefillKernel);
    return { ...decode, kernel: 'mixed', prefillKernel: prefill.prefillKernel };
  }
  const decode = mode === 'decode' || (mode === 'auto' && batch.numTokens === batch.numSeqs);
  return decode
    ? recordDecode(ctx, rec, batch, batch.numTokens, opts.kvHeadsPerWorkgroup, opts.int8Out)
    : recordPrefill(ctx, rec, batch, 0, opts.prefillKernel);
}

/** Largest split-K scratch (bytes) attention has held on this context. */
export function attentionScratchBytes(ctx: GpuContext): number {
  return stateOf(ctx).peakScratchBytes;
}

/**
 * Prefill for sequences [seqStart, numSeqs); the sequences before hold one token each (decodes),
 * so these hold tokens [seqStart, numTokens).
 */
function recordPrefill(
  ctx: GpuContext,
  rec: StepRecorder,
  b: PagedAttentionBatch,
  seqStart: number,
  kind: PrefillKernelKind | undefined,
): AttentionDispatch {
  const state = stateOf(ctx);
  const pool = poolFormat(ctx, b);
  const subgroup = fixedSubgroupSize(ctx);
  if (kind === 'rows' && subgroup === 0) {
    throw new KernelShapeError(
      'attention',
      'the rows prefill kernel needs the subgroups feature with a fixed power-of-two size',
    );
  }
  if (kind === 'rows' || (kind === undefined && ctx.isCpuAdapter && subgroup > 0)) {
    return recordRowPrefill(ctx, rec, b, seqStart, pool, subgroup);
  }
  const key = `${b.headDim}/${pool.tag}`;
  let kernel = state.prefill.get(key);
  if (!kernel) {
    kernel = prefillKernel(b.headDim, ctx.limits.maxComputeWorkgroupStorageSize, pool);
    state.prefill.set(key, kernel);
  }
  const layout = prefillLayout(kernel, b.numHeads, b.numKvHeads);
  const params = {
    numTokens: b.numTokens,
    seqStart,
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
  const tiles = prefillTileCount(layout, b.numTokens - seqStart, b.numSeqs - seqStart);
  rec.dispatchKernel(kernel.source, params, buffers, [
    checkGrid(ctx, 'query tiles', tiles),
    checkGrid(ctx, 'KV heads x head chunks', b.numKvHeads * layout.headChunks),
  ]);
  return {
    kernel: 'prefill',
    decodeTokens: 0,
    keysPerWorkgroup: kernel.keyTile,
    splits: 1,
    scratchBytes: 0,
    usesSubgroups: false,
    prefillKernel: 'flash',
  };
}

/** The rows kernel's prefill for sequences [seqStart, numSeqs), that is tokens [seqStart, numTokens). */
function recordRowPrefill(
  ctx: GpuContext,
  rec: StepRecorder,
  b: PagedAttentionBatch,
  seqStart: number,
  pool: StorageFormat,
  subgroup: number,
): AttentionDispatch {
  const state = stateOf(ctx);
  const key = `${b.headDim}/${subgroup}/${pool.tag}`;
  let kernel = state.rowPrefill.get(key);
  if (!kernel) {
    kernel = rowPrefillKernel(b.headDim, subgroup, pool);
    state.rowPrefill.set(key, kernel);
  }
  const workgroups = checkGrid(
    ctx,
    'query blocks x heads',
    rowPrefillWorkgroups(kernel, b.numTokens - seqStart, b.numSeqs - seqStart, b.numHeads),
  );
  const params = {
    seqStart,
    numSeqs: b.numSeqs,
    numHeads: b.numHeads,
    numKvHeads: b.numKvHeads,
    maxBlocksPerSeq: b.maxBlocksPerSeq,
    blockSize: b.blockSize,
    workgroups,
    scale: b.scale,
  };
  rec.dispatchKernel(kernel.source, params, { ...pagedInputBuffers(b), out: b.out }, [workgroups]);
  return {
    kernel: 'prefill',
    decodeTokens: 0,
    keysPerWorkgroup: 1,
    splits: 1,
    scratchBytes: 0,
    usesSubgroups: true,
    prefillKernel: 'rows',
  };
}

/** Decode for tokens [0, tokens) of the batch, each the only query token of its sequence. */
function recordDecode(
  ctx: GpuContext,
  rec: StepRecorder,
  b: PagedAttentionBatch,
  tokens: number,
  kvHeadsPerWorkgroup: number | undefined,
  int8Out?: Int8Activations,
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
  const kvGroups = Math.ceil(b.numKvHeads / kernels.kvHeadsPerWorkgroup);
  const chunk = decodeChunk(ctx, kvGroups * headChunks, kernels.maxChunk(headsPerWorkgroup));
  const splits = Math.ceil(b.maxContextLen / chunk);
  // Tokens run in passes whose split partials fit one binding (and whose count fits the grid);
  // the passes share one scratch, each merged before the next overwrites it.
  const tokenAccBytes = splits > 1 ? b.numHeads * splits * b.headDim * 4 : 0;
  const maxBinding = ctx.limits.maxStorageBufferBindingSize;
  if (tokenAccBytes > maxBinding) {
    throw new KernelShapeError(
      'attention',
      `decode at context ${b.maxContextLen} needs ${tokenAccBytes} bytes of split partials per token, ` +
        `more than one binding holds (${maxBinding}); use a shorter context`,
    );
  }
  const perPass = Math.min(
    tokens,
    ctx.limits.maxComputeWorkgroupsPerDimension,
    tokenAccBytes > 0 ? Math.floor(maxBinding / tokenAccBytes) : tokens,
  );
  const accBytes = perPass * tokenAccBytes;
  const statsBytes = splits > 1 ? perPass * b.numHeads * splits * 8 : 0;
  // With a single split every token writes `out` directly; the scratch bindings are then unused
  // but still bound.
  const scratch = scratchFor(ctx, state, accBytes, statsBytes);
  // Every token in one split writes its output directly, so the kernel can quantize it too.
  const int8Kernel = int8Out && splits === 1 ? kernels.decodeInt8 : undefined;
  for (let tokenStart = 0; tokenStart < tokens; tokenStart += perPass) {
    const count = Math.min(perPass, tokens - tokenStart);
    const params = {
      tokenStart,
      numTokens: count,
      maxBlocksPerSeq: b.maxBlocksPerSeq,
      chunkLen: chunk,
      numSplits: splits,
      numHeads: b.numHeads,
      numKvHeads: b.numKvHeads,
      headsPerWorkgroup,
      headChunks,
      blockSize: b.blockSize,
      headDim4: b.headDim / 4,
      scale: b.scale,
    };
    const buffers = {
      ...pagedInputBuffers(b),
      tokenSeqIds: b.tokenSeqIds,
      out: b.out,
      partialAcc: scratch.acc,
      partialStats: scratch.stats,
    };
    const int8Buffers = int8Kernel ? { xq: int8Out!.xq, xg: int8Out!.xg } : {};
    rec.dispatchKernel(int8Kernel ?? kernels.decode, params, { ...buffers, ...int8Buffers }, [
      count,
      checkGrid(ctx, 'KV head groups x head chunks', kvGroups * headChunks),
      checkGrid(ctx, 'decode splits', splits),
    ]);
    if (splits > 1) {
      const groups = Math.ceil((count * b.numHeads * (b.headDim / 4)) / DECODE_MERGE_WORKGROUP);
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
  }
  return {
    kernel: 'decode',
    decodeTokens: tokens,
    keysPerWorkgroup: chunk,
    splits,
    scratchBytes: accBytes + statsBytes,
    usesSubgroups: kernels.usesSubgroups,
    ...(int8Kernel ? { int8Out: 'kernel' as const } : {}),
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

/** The batch's pool: f16 read through f16 types where the device has shader-f16, i8 dequantised per row. */
function poolFormat(ctx: GpuContext, b: PagedAttentionBatch): StorageFormat {
  return kvPoolFormat(b.kvDtype ?? 'f32', ctx.features.shaderF16, b.headDim);
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
