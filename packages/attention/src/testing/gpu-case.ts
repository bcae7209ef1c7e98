import { packKvI4Pool, packKvI8Pool, reference, type GpuContext, type PagedAttentionBatch } from '@llm/kernels';
import { type GpuKvDtype } from '@llm/quant';
import { f32ArrayToF16 } from '@llm/quant';
import type { HostAttentionCase } from './attention-case.js';

/** A host case on the GPU: the batch plus what a KV write of the new tokens needs. */
export interface GpuAttentionCase {
  batch: PagedAttentionBatch;
  /** u32 [numTokens] */
  slotMapping: GPUBuffer;
  /** f32 [numTokens, numKvHeads, headDim] */
  newK: GPUBuffer;
  newV: GPUBuffer;
  destroy(): void;
}

/**
 * Uploads a case with `out` poisoned with NaN. With `newTokensWritten: false` the new tokens'
 * slots in the pool hold NaN as well, so attention is only right after a KV write fills them.
 * With `kvDtype: 'f16'` the pool is uploaded as f16 (round the case first, see roundKvToF16); with
 * 'i8' quantized per row (see roundKvToI8) and 'i4' per group (roundKvToI4), NaN rows with NaN
 * scales.
 */
export function uploadAttentionCase(
  ctx: GpuContext,
  c: HostAttentionCase,
  opts: { newTokensWritten: boolean; kvDtype?: GpuKvDtype },
): GpuAttentionCase {
  let kCache = c.kCache;
  let vCache = c.vCache;
  if (!opts.newTokensWritten) {
    kCache = kCache.slice();
    vCache = vCache.slice();
    const shape = { numKvHeads: c.numKvHeads, headDim: c.headDim, blockSize: c.blockSize };
    for (const slot of c.slotMapping) {
      for (let h = 0; h < c.numKvHeads; h++) {
        const at = reference.kvPoolOffset(shape, slot, h);
        kCache.fill(Number.NaN, at, at + c.headDim);
        vCache.fill(Number.NaN, at, at + c.headDim);
      }
    }
  }
  const pool = (x: Float32Array): ArrayBufferView =>
    opts.kvDtype === 'f16'
      ? f32ArrayToF16(x)
      : opts.kvDtype === 'i8'
        ? packKvI8Pool(x, c.headDim)
        : opts.kvDtype === 'i4'
          ? packKvI4Pool(x, c.headDim)
          : x;
  const buffers: GPUBuffer[] = [];
  const up = (data: ArrayBufferView, label: string) => {
    const b = ctx.upload(data, label);
    buffers.push(b);
    return b;
  };
  const batch: PagedAttentionBatch = {
    q: up(c.q, 'q'),
    out: up(new Float32Array(c.q.length).fill(Number.NaN), 'attention out'),
    kCache: up(pool(kCache), 'k cache'),
    vCache: up(pool(vCache), 'v cache'),
    kvDtype: opts.kvDtype ?? 'f32',
    blockTables: up(c.blockTables, 'block tables'),
    queryStarts: up(c.queryStarts, 'query starts'),
    contextLens: up(c.contextLens, 'context lens'),
    tokenSeqIds: up(c.tokenSeqIds, 'token seq ids'),
    numTokens: c.numTokens,
    numSeqs: c.numSeqs,
    maxBlocksPerSeq: c.maxBlocksPerSeq,
    maxContextLen: c.maxContextLen,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    blockSize: c.blockSize,
    scale: c.scale,
  };
  return {
    batch,
    slotMapping: up(c.slotMapping, 'slot mapping'),
    newK: up(c.newK, 'new k'),
    newV: up(c.newV, 'new v'),
    destroy: () => buffers.forEach((b) => b.destroy()),
  };
}
