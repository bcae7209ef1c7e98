import { KernelShapeError } from '../runtime/errors.js';
import type { StepRecorder } from '../runtime/step-recorder.js';
import { requireBytes, requireDistinct, requireInt } from './kernel-args.js';
import { kernelSource } from './kernel-cache.js';
import type { PagedAttentionBatch } from './paged-attention-batch.js';
import { pagedAttentionNaiveKernel } from './paged-attention-naive.wgsl.js';
import { storageFormat } from './storage-format.js';
import { kvPoolRowBytes, requireKvPoolDtype } from './kv-pool-format.js';

/**
 * Checks a batch's shapes and buffer sizes against each other (shared by every attention kernel
 * that takes a PagedAttentionBatch). Returns the number of KV slots the caches hold.
 */
export function validatePagedAttentionBatch(
  kernel: string,
  b: PagedAttentionBatch,
  maxHeadDim = 256,
): number {
  requireInt(kernel, 'numTokens', b.numTokens, 1);
  requireInt(kernel, 'numSeqs', b.numSeqs, 1, b.numTokens);
  requireInt(kernel, 'maxBlocksPerSeq', b.maxBlocksPerSeq, 1);
  requireInt(kernel, 'blockSize', b.blockSize, 1);
  requireInt(kernel, 'maxContextLen', b.maxContextLen, 1, b.maxBlocksPerSeq * b.blockSize);
  requireInt(kernel, 'numHeads', b.numHeads, 1);
  requireInt(kernel, 'numKvHeads', b.numKvHeads, 1, b.numHeads);
  requireInt(kernel, 'headDim', b.headDim, 1, maxHeadDim);
  if (b.numHeads % b.numKvHeads !== 0) {
    throw new KernelShapeError(
      kernel,
      `numHeads ${b.numHeads} must be a multiple of numKvHeads ${b.numKvHeads}`,
    );
  }
  if (!Number.isFinite(b.scale)) throw new KernelShapeError(kernel, `scale must be finite, got ${b.scale}`);
  const dtype = b.kvDtype ?? 'f32';
  requireKvPoolDtype(kernel, dtype, b.headDim);
  const qBytes = b.numTokens * b.numHeads * b.headDim * 4;
  requireBytes(kernel, 'q', b.q, qBytes);
  requireBytes(kernel, 'out', b.out, qBytes);
  const slotBytes = b.numKvHeads * kvPoolRowBytes(dtype, b.headDim);
  const slots = Math.floor(Math.min(b.kCache.size, b.vCache.size) / slotBytes);
  if (slots < b.blockSize) {
    throw new KernelShapeError(
      kernel,
      `kCache/vCache hold ${slots} slots, less than one block of ${b.blockSize}`,
    );
  }
  requireBytes(kernel, 'blockTables', b.blockTables, b.numSeqs * b.maxBlocksPerSeq * 4);
  requireBytes(kernel, 'queryStarts', b.queryStarts, (b.numSeqs + 1) * 4);
  requireBytes(kernel, 'contextLens', b.contextLens, b.numSeqs * 4);
  requireBytes(kernel, 'tokenSeqIds', b.tokenSeqIds, b.numTokens * 4);
  requireDistinct(kernel, b.out, { q: b.q, kCache: b.kCache, vCache: b.vCache });
  return slots;
}

/**
 * Reference-quality causal attention over the paged KV pool for any mix of prefill and decode
 * tokens. Correct for head dims 1..256; the fast kernels live in @llm/attention.
 */
export function pagedAttentionNaive(rec: StepRecorder, b: PagedAttentionBatch): void {
  const name = 'pagedAttentionNaive';
  validatePagedAttentionBatch(name, b);
  if (b.kvDtype === 'i8' || b.kvDtype === 'i4') {
    throw new KernelShapeError(name, 'reads f32 and f16 pools only; attention() in @llm/attention reads i8 and i4 pools');
  }
  const maxDim = rec.ctx.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.min(b.numTokens, maxDim);
  const z = Math.ceil(b.numTokens / y);
  const pool = storageFormat(b.kvDtype ?? 'f32', rec.ctx.features.shaderF16);
  const kernel = kernelSource('paged-attention-naive', pool.tag, () => pagedAttentionNaiveKernel(pool));
  const params = {
    num_tokens: b.numTokens,
    num_heads: b.numHeads,
    num_kv_heads: b.numKvHeads,
    head_dim: b.headDim,
    block_size: b.blockSize,
    max_blocks_per_seq: b.maxBlocksPerSeq,
    scale: b.scale,
  };
  const buffers = {
    q: b.q,
    k_cache: b.kCache,
    v_cache: b.vCache,
    block_tables: b.blockTables,
    query_starts: b.queryStarts,
    context_lens: b.contextLens,
    token_seq_ids: b.tokenSeqIds,
    out: b.out,
  };
  rec.dispatchKernel(kernel, params, buffers, [b.numHeads, y, z]);
}
