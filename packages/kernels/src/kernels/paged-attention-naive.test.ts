import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { f16ArrayToF32, f32ArrayToF16 } from '@llm/quant';
import { GPU_DTYPES } from '@llm/quant';
import {
  extraGpuForTests,
  gpuForTests,
  poisonF32,
  randomFloats,
  relativeL2,
  seededRandom,
} from '../testing/index.js';
import type { PagedAttentionBatch } from './paged-attention-batch.js';
import { pagedAttentionNaive } from './paged-attention-naive.js';

const gpu = await gpuForTests();
// Reads an f16 pool as packed u32 pairs (unpack2x16float) instead of through f16 types.
const noF16 = gpu ? await extraGpuForTests({ disableFeatures: ['shaderF16'] }) : undefined;

interface Case {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  blockSize: number;
  /** [new tokens, context length] per sequence. */
  seqs: Array<[number, number]>;
}

describe.skipIf(!gpu)('pagedAttentionNaive', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  const cases: Case[] = [
    // prefill, decode and a chunked prefill in one packed batch; GQA 4:2
    {
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      blockSize: 8,
      seqs: [
        [5, 5],
        [1, 37],
        [4, 20],
      ],
    },
    // MQA, head dim not a multiple of the 64 invocations, contexts crossing several chunks
    {
      numHeads: 3,
      numKvHeads: 1,
      headDim: 100,
      blockSize: 16,
      seqs: [
        [1, 150],
        [3, 3],
      ],
    },
    { numHeads: 2, numKvHeads: 2, headDim: 256, blockSize: 4, seqs: [[2, 70]] },
    {
      numHeads: 8,
      numKvHeads: 2,
      headDim: 64,
      blockSize: 16,
      seqs: [
        [1, 1],
        [1, 65],
        [17, 17],
      ],
    },
  ];
  it.each([
    ...cases.flatMap((c) => GPU_DTYPES.map((kvDtype) => ({ ...c, kvDtype, shaderF16: true }))),
    ...cases.map((c) => ({ ...c, kvDtype: 'f16' as const, shaderF16: false })),
  ])('matches the f64 reference: %o', async (c) => {
    const ctx = c.shaderF16 ? gpu! : noF16!;
    const rand = seededRandom(seed);
    const numSeqs = c.seqs.length;
    const maxBlocksPerSeq = Math.max(...c.seqs.map(([, len]) => Math.ceil(len / c.blockSize)));
    const numBlocks = numSeqs * maxBlocksPerSeq + 3;
    // Physical blocks handed out in a shuffled order so block tables are not the identity.
    const order = Array.from({ length: numBlocks }, (_, i) => i).sort(() => rand() - 0.5);
    const blockTables = new Uint32Array(numSeqs * maxBlocksPerSeq);
    let next = 0;
    c.seqs.forEach(([, len], s) => {
      for (let b = 0; b < Math.ceil(len / c.blockSize); b++)
        blockTables[s * maxBlocksPerSeq + b] = order[next++]!;
    });
    const queryStarts = new Uint32Array(numSeqs + 1);
    c.seqs.forEach(([n], s) => (queryStarts[s + 1] = queryStarts[s]! + n));
    const numTokens = queryStarts[numSeqs]!;
    const tokenSeqIds = new Uint32Array(numTokens);
    c.seqs.forEach(([n], s) => tokenSeqIds.fill(s, queryStarts[s]!, queryStarts[s]! + n));
    const contextLens = new Uint32Array(c.seqs.map(([, len]) => len));
    const slotElems = c.numKvHeads * c.headDim;
    // An f16 pool is checked against the reference on the values it holds (rounded to f16).
    const pool = (x: Float32Array) => (c.kvDtype === 'f16' ? f32ArrayToF16(x) : x);
    const kHeld = pool(randomFloats(rand, numBlocks * c.blockSize * slotElems));
    const vHeld = pool(randomFloats(rand, numBlocks * c.blockSize * slotElems));
    const asF32 = (x: Float32Array | Uint16Array) => (x instanceof Uint16Array ? f16ArrayToF32(x) : x);
    const kCache = asF32(kHeld);
    const vCache = asF32(vHeld);
    const q = randomFloats(rand, numTokens * c.numHeads * c.headDim, -2, 2);
    const scale = 1 / Math.sqrt(c.headDim);
    const out = ctx.upload(poisonF32(q.length), 'out');
    const batch: PagedAttentionBatch = {
      q: ctx.upload(q, 'q'),
      out,
      kCache: ctx.upload(kHeld, 'kCache'),
      vCache: ctx.upload(vHeld, 'vCache'),
      kvDtype: c.kvDtype,
      blockTables: ctx.upload(blockTables, 'blockTables'),
      queryStarts: ctx.upload(queryStarts, 'queryStarts'),
      contextLens: ctx.upload(contextLens, 'contextLens'),
      tokenSeqIds: ctx.upload(tokenSeqIds, 'tokenSeqIds'),
      numTokens,
      numSeqs,
      maxBlocksPerSeq,
      maxContextLen: Math.max(...contextLens),
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      blockSize: c.blockSize,
      scale,
    };
    const rec = ctx.recorder();
    pagedAttentionNaive(rec, batch);
    rec.submit();
    const got = new Float32Array(await ctx.read(out, 0, q.byteLength));
    const want = reference.pagedAttention({
      q,
      kCache,
      vCache,
      blockTables,
      queryStarts,
      contextLens,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      blockSize: c.blockSize,
      maxBlocksPerSeq,
      scale,
    });
    const err = relativeL2(got, want);
    expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-5);
  });

  it('rejects head counts that do not group', () => {
    const b = ctx.createBuffer(1 << 16, 'b');
    const batch: PagedAttentionBatch = {
      q: b,
      out: ctx.createBuffer(1 << 16, 'o'),
      kCache: b,
      vCache: b,
      blockTables: b,
      queryStarts: b,
      contextLens: b,
      tokenSeqIds: b,
      numTokens: 1,
      numSeqs: 1,
      maxBlocksPerSeq: 1,
      maxContextLen: 1,
      numHeads: 3,
      numKvHeads: 2,
      headDim: 8,
      blockSize: 16,
      scale: 0.3,
    };
    expect(() => pagedAttentionNaive(ctx.recorder(), batch)).toThrow(KernelShapeError);
  });
});
