import { KernelShapeError, kvWrite } from '@llm/kernels';
import type { GpuContext } from '@llm/kernels';
import { quantizeGroupsI8, type GpuKvDtype } from '@llm/quant';
import { extraGpuForTests, gpuForTests, poisonF32, relativeL2, seededRandom } from '@llm/kernels/testing';
import { describe, expect, it } from 'vitest';
import { attention, attentionScratchBytes } from './index.js';
import type { AttentionDispatch, AttentionMode, AttentionOptions } from './index.js';
import {
  buildAttentionCase,
  referenceRows,
  roundKvToF16,
  roundKvToI4,
  roundKvToI8,
  sliceBatch,
  uploadAttentionCase,
} from './testing/index.js';
import type { HostAttentionCase, SequenceShape, SequenceSlice } from './testing/index.js';
import { pairwiseRows, uncoveredPairs } from './testing/pairwise.js';

const gpu = await gpuForTests();
// The portable path: no subgroups, no shader-f16.
const portableGpu = gpu ? await extraGpuForTests({ disableFeatures: ['subgroups', 'shaderF16'] }) : undefined;

const F32_TOLERANCE = 1e-4;
// An f16 pool against the reference of the unrounded K/V (see the f16 bound test).
const F16_TOLERANCE = 1e-3;

const FACTORS = {
  headDim: [8, 16, 32, 64, 80, 96, 128, 256],
  // query heads : KV heads of 1, 4, 8 and all-to-one (12 query heads, a group that is not a
  // power of two and, at large head dims, more heads than one decode workgroup takes).
  heads: ['1:1', '4:1', '8:1', 'all:1'],
  numSeqs: [1, 3, 11, 32],
  // Ragged context lengths drawn from 1..maxLen; the first sequence gets maxLen exactly.
  maxLen: [16, 300, 2048],
  blockSize: [8, 16, 32],
  // decode: one query each; prefill: the whole context is new; chunked: a chunk that starts
  // mid-sequence (context longer than the query count); mixed: each sequence picks one.
  queries: ['decode', 'prefill', 'chunked', 'mixed'],
  features: ['adapter', 'portable'],
  // auto: the kernel attention() picks; other: the other kernel forced on the same batch.
  kernel: ['auto', 'other'],
  // Element type of the KV pool.
  kv: ['f32', 'f16'],
  // Prefill kernel: auto (rows where the adapter is a CPU with fixed subgroups, else flash) or
  // flash forced.
  prefill: ['auto', 'flash'],
} as const;

const HEADS: Record<(typeof FACTORS.heads)[number], [number, number]> = {
  '1:1': [3, 3],
  '4:1': [8, 2],
  '8:1': [8, 1],
  'all:1': [12, 1],
};

// Multiply-adds of one case (Q·K and P·V each) are capped so the file stays within a couple of
// minutes on lavapipe; larger chunks are halved, which turns a full prefill into a chunk.
const MAX_CASE_MACS = 24e6;
// Above this, the reference checks sampled rows: every sequence's first and last token plus some.
const MAX_REFERENCE_MACS = 6e6;

const DESIGN = pairwiseRows(FACTORS, seededRandom(20261122));

type DesignRow = (typeof DESIGN)[number];

function sequences(row: DesignRow, rand: () => number, numHeads: number): SequenceShape[] {
  const seqs: SequenceShape[] = [];
  for (let s = 0; s < row.numSeqs; s++) {
    const contextLen = s === 0 ? row.maxLen : 1 + Math.floor(rand() * row.maxLen);
    const kind = row.queries === 'mixed' ? (['decode', 'prefill', 'chunked'] as const)[s % 3]! : row.queries;
    const queryLen =
      kind === 'decode'
        ? 1
        : kind === 'prefill'
          ? contextLen
          : Math.max(1, Math.min(contextLen - 1, 1 + Math.floor(rand() * contextLen)));
    seqs.push({ queryLen, contextLen });
  }
  const macs = () =>
    seqs.reduce((sum, s) => sum + s.queryLen * (s.contextLen - s.queryLen / 2), 0) * numHeads * row.headDim;
  while (macs() > MAX_CASE_MACS && seqs.some((s) => s.queryLen > 1)) {
    const longest = seqs.reduce((a, b) => (b.queryLen > a.queryLen ? b : a));
    longest.queryLen = Math.ceil(longest.queryLen / 2);
  }
  return seqs;
}

function checkedTokens(c: HostAttentionCase, rand: () => number): number[] | undefined {
  let macs = 0;
  for (let s = 0; s < c.numSeqs; s++) {
    const q = c.queryStarts[s + 1]! - c.queryStarts[s]!;
    macs += q * (c.contextLens[s]! - q / 2) * c.numHeads * c.headDim;
  }
  if (macs <= MAX_REFERENCE_MACS) return undefined;
  const tokens = new Set<number>();
  for (let s = 0; s < c.numSeqs; s++) {
    tokens.add(c.queryStarts[s]!);
    tokens.add(c.queryStarts[s + 1]! - 1);
  }
  for (let i = 0; i < 48; i++) tokens.add(Math.floor(rand() * c.numTokens));
  return [...tokens].sort((a, b) => a - b);
}

/** Runs kvWrite of the new tokens and attention in one step; resolves to all output rows. */
async function runStep(
  ctx: GpuContext,
  c: HostAttentionCase,
  opts: AttentionOptions = {},
  kvDtype: GpuKvDtype = 'f32',
): Promise<{ info: AttentionDispatch; out: Float32Array }> {
  return (await runStepInt8(ctx, c, opts, kvDtype, false)).run;
}

/**
 * runStep, also asking for the output quantized to int8 (`int8`): the int8 values (one i32 each)
 * and each group's (scale, sum), read back from poisoned buffers.
 */
async function runStepInt8(
  ctx: GpuContext,
  c: HostAttentionCase,
  opts: AttentionOptions = {},
  kvDtype: GpuKvDtype = 'f32',
  int8 = true,
): Promise<{ run: { info: AttentionDispatch; out: Float32Array }; q: Int32Array; g: Float32Array }> {
  const g = uploadAttentionCase(ctx, c, { newTokensWritten: false, kvDtype });
  const values = c.numTokens * c.numHeads * c.headDim;
  const xq = int8 ? ctx.upload(new Int32Array(values).fill(0x7f7f7f7f), 'xq') : undefined;
  const xg = int8 ? ctx.upload(poisonF32(values / 16), 'xg') : undefined;
  try {
    const rec = ctx.recorder('attention test');
    kvWrite(rec, {
      k: g.newK,
      v: g.newV,
      slots: g.slotMapping,
      kCache: g.batch.kCache,
      vCache: g.batch.vCache,
      tokens: c.numTokens,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      numBlocks: c.numBlocks,
      blockSize: c.blockSize,
      kvDtype,
    });
    const info = attention(rec, g.batch, xq && xg ? { ...opts, int8Out: { xq, xg } } : opts);
    const read = rec.read(g.batch.out);
    const readQ = xq && rec.read(xq);
    const readG = xg && rec.read(xg);
    rec.submit();
    const out = new Float32Array(await read);
    return {
      run: { info, out },
      q: readQ ? new Int32Array(await readQ) : new Int32Array(0),
      g: readG ? new Float32Array(await readG) : new Float32Array(0),
    };
  } finally {
    g.destroy();
    xq?.destroy();
    xg?.destroy();
  }
}

/** Runs kvWrite of the new tokens and attention in one step, and compares with the reference. */
async function runCase(
  ctx: GpuContext,
  c: HostAttentionCase,
  mode: AttentionMode,
  rand: () => number,
  opts: AttentionOptions = {},
  kvDtype: GpuKvDtype = 'f32',
) {
  const { info, out: all } = await runStep(ctx, c, { ...opts, mode }, kvDtype);
  const tokens = checkedTokens(c, rand);
  const rowLen = c.numHeads * c.headDim;
  const list = tokens ?? Array.from({ length: c.numTokens }, (_, t) => t);
  const got = new Float32Array(list.length * rowLen);
  list.forEach((t, i) => got.set(all.subarray(t * rowLen, (t + 1) * rowLen), i * rowLen));
  const expected = referenceRows(c, list);
  // Every row, checked or not, must have been written: out starts as NaN.
  const unwritten = all.findIndex((x) => Number.isNaN(x));
  return { info, error: relativeL2(got, expected), unwritten };
}

describe('pairwise design', () => {
  it('covers every pair of factor levels in far fewer cases than the full product', () => {
    expect(uncoveredPairs(FACTORS, DESIGN)).toEqual([]);
    expect(DESIGN.length).toBeLessThan(48);
  });
});

describe.skipIf(!gpu)('attention matches the float64 reference', () => {
  DESIGN.forEach((row, index) => {
    const seed = 1000 + index;
    const name =
      `d${row.headDim} heads ${row.heads} seqs ${row.numSeqs} len<=${row.maxLen} block ${row.blockSize} ` +
      `${row.queries} ${row.features} kernel=${row.kernel} kv ${row.kv} prefill=${row.prefill} (seed ${seed})`;
    it(name, async () => {
      const rand = seededRandom(seed);
      const [numHeads, numKvHeads] = HEADS[row.heads];
      const seqs = sequences(row, rand, numHeads);
      const built = buildAttentionCase(
        { seqs, numHeads, numKvHeads, headDim: row.headDim, blockSize: row.blockSize, spareBlocks: 3 },
        rand,
      );
      // An f16 pool is checked against the reference of the values it holds.
      const c = row.kv === 'f16' ? roundKvToF16(built) : built;
      const decodeBatch = c.numTokens === c.numSeqs;
      const mode: AttentionMode = row.kernel === 'auto' ? 'auto' : decodeBatch ? 'prefill' : 'decode';
      const ctx = row.features === 'portable' ? portableGpu! : gpu!;
      const opts: AttentionOptions = row.prefill === 'flash' ? { prefillKernel: 'flash' } : {};
      const { info, error, unwritten } = await runCase(ctx, c, mode, rand, opts, row.kv);
      expect(info.kernel).toBe(mode === 'auto' ? (decodeBatch ? 'decode' : 'prefill') : mode);
      if (info.kernel === 'prefill') {
        const rows = row.prefill === 'auto' && ctx.isCpuAdapter && row.features === 'adapter';
        expect(info.prefillKernel).toBe(rows ? 'rows' : 'flash');
      }
      if (row.features === 'portable') expect(info.usesSubgroups).toBe(false);
      expect(unwritten, `seed ${seed}: first unwritten output element`).toBe(-1);
      expect(error, `seed ${seed}: relative L2 error`).toBeLessThan(F32_TOLERANCE);
    });
  });

  it('prefills a 4096-token context in one chunk (sampled rows)', async () => {
    const seed = 4096;
    const rand = seededRandom(seed);
    const c = buildAttentionCase(
      {
        seqs: [{ queryLen: 4096, contextLen: 4096 }],
        numHeads: 4,
        numKvHeads: 1,
        headDim: 64,
        blockSize: 16,
      },
      rand,
    );
    const { info, error, unwritten } = await runCase(gpu!, c, 'auto', rand);
    expect(info.kernel).toBe('prefill');
    expect(unwritten).toBe(-1);
    expect(error, `seed ${seed}`).toBeLessThan(F32_TOLERANCE);
  });

  it.each([2, 4])(
    'decodes with %i KV heads side by side per workgroup, segments past the last KV head idle',
    async (kvHeadsPerWorkgroup) => {
      const seed = 4100 + kvHeadsPerWorkgroup;
      const rand = seededRandom(seed);
      const seqs = [700, 33, 1, 260].map((contextLen) => ({ queryLen: 1, contextLen }));
      const c = buildAttentionCase(
        { seqs, numHeads: 15, numKvHeads: 5, headDim: 64, blockSize: 16, spareBlocks: 3 },
        rand,
      );
      const { info, error, unwritten } = await runCase(gpu!, c, 'decode', rand, { kvHeadsPerWorkgroup });
      expect(info.usesSubgroups).toBe(gpu!.features.subgroups);
      expect(unwritten).toBe(-1);
      expect(error, `seed ${seed}`).toBeLessThan(F32_TOLERANCE);
    },
  );

  // The f16 bound: against the reference of the unrounded K/V, an f16 pool adds the rounding of
  // each element (relative 2^-11 at most, about 3e-4 on average) to the kernels' own error.
  it.each(['decode', 'prefill'] as const)(
    'keeps %s on an f16 pool within F16_TOLERANCE of the unrounded reference',
    async (mode) => {
      const seed = mode === 'decode' ? 4200 : 4201;
      const rand = seededRandom(seed);
      const seqs = [1500, 40, 700].map((contextLen) => ({
        queryLen: mode === 'decode' ? 1 : 24,
        contextLen,
      }));
      const exact = buildAttentionCase(
        { seqs, numHeads: 16, numKvHeads: 2, headDim: 64, blockSize: 16, spareBlocks: 2 },
        rand,
      );
      // The pool holds the rounded values, the reference reads the exact ones.
      const rounded = roundKvToF16(exact);
      const { error: ownError } = await runCase(gpu!, rounded, mode, seededRandom(seed), {}, 'f16');
      const { error, unwritten } = await runCase(
        gpu!,
        { ...rounded, kCache: exact.kCache, vCache: exact.vCache },
        mode,
        seededRandom(seed),
        {},
        'f16',
      );
      expect(unwritten).toBe(-1);
      expect(ownError, `seed ${seed}: against the rounded reference`).toBeLessThan(F32_TOLERANCE);
      expect(error, `seed ${seed}: against the unrounded reference`).toBeLessThan(F16_TOLERANCE);
    },
  );

  it('decodes at context 4096 with split-K and a log-sum-exp merge', async () => {
    const seed = 4097;
    const rand = seededRandom(seed);
    const seqs = [4096, 4000, 1, 2500].map((contextLen) => ({ queryLen: 1, contextLen }));
    const c = buildAttentionCase(
      { seqs, numHeads: 32, numKvHeads: 4, headDim: 128, blockSize: 16, spareBlocks: 5 },
      rand,
    );
    const { info, error, unwritten } = await runCase(gpu!, c, 'auto', rand);
    expect(info.kernel).toBe('decode');
    expect(info.splits).toBeGreaterThan(1);
    expect(info.scratchBytes).toBeGreaterThan(0);
    expect(unwritten).toBe(-1);
    expect(error, `seed ${seed}`).toBeLessThan(F32_TOLERANCE);
  });
});

// i8 pools: the kernels dequantise the same int8 values and scales as the reference of the
// quantized case (kv-write quantizes bit for bit as @llm/quant does), so the f32 bound holds.
// Odd head dims of 80 and 96 (20 and 24 vec4s: row pairs not a power of two), odd token counts,
// several blocks, new tokens written by the quantizing kvWrite, outputs poisoned.
const I8_CASES = [
  { headDim: 64, heads: [8, 2], ctxs: [37, 301, 1, 129], queries: 'decode', features: 'adapter' },
  { headDim: 80, heads: [6, 3], ctxs: [53, 17, 200], queries: 'prefill', features: 'adapter' },
  { headDim: 96, heads: [12, 1], ctxs: [611, 45, 3], queries: 'chunked', features: 'adapter' },
  { headDim: 64, heads: [4, 4], ctxs: [77, 9, 1030], queries: 'decode', features: 'portable' },
  { headDim: 96, heads: [8, 1], ctxs: [21, 150], queries: 'prefill', features: 'portable' },
  { headDim: 80, heads: [5, 5], ctxs: [333, 7, 64], queries: 'chunked', features: 'portable' },
] as const;
// Against the unquantized reference: int8 per row adds up to half a step (absmax / 254) per element.
const I8_TOLERANCE = 2e-2;

// i4 pools: the same, groups of at most 32 values of a row with their own scale (head dims of 2
// and 4 groups, groups of 16 and 32 values); the quantization error is 16x int8's.
const I4_CASES = [
  { headDim: 64, heads: [8, 2], ctxs: [37, 301, 1, 129], queries: 'decode', features: 'adapter' },
  { headDim: 32, heads: [6, 3], ctxs: [53, 17, 200], queries: 'prefill', features: 'adapter' },
  { headDim: 128, heads: [8, 1], ctxs: [211, 45, 3], queries: 'chunked', features: 'portable' },
] as const;
// Against the unquantized reference: half a step (absmax / 14) per element, spread by the softmax.
const I4_TOLERANCE = 0.2;

type QuantizedPoolCase = (typeof I8_CASES)[number] | (typeof I4_CASES)[number];

/**
 * Each case on a quantized pool: against the reference of the values the pool holds (`round`'s
 * case, F32_TOLERANCE) and against the unquantized K/V (`tolerance`).
 */
function quantizedPoolCases(
  kvDtype: 'i8' | 'i4',
  cases: readonly QuantizedPoolCase[],
  round: (c: HostAttentionCase) => HostAttentionCase,
  tolerance: number,
  seedBase: number,
): void {
  cases.forEach((k, index) => {
    const seed = seedBase + index;
    it(`d${k.headDim} heads ${k.heads.join(':')} contexts ${k.ctxs.join(',')} ${k.queries} ${k.features} (seed ${seed})`, async () => {
      const rand = seededRandom(seed);
      const seqs = k.ctxs.map((contextLen) => ({
        contextLen,
        queryLen: k.queries === 'decode' ? 1 : k.queries === 'prefill' ? contextLen : Math.max(1, contextLen >> 2) | 1,
      }));
      const exact = buildAttentionCase(
        { seqs, numHeads: k.heads[0], numKvHeads: k.heads[1], headDim: k.headDim, blockSize: 16, spareBlocks: 3 },
        rand,
      );
      const c = round(exact);
      const ctx = k.features === 'portable' ? portableGpu! : gpu!;
      const mode: AttentionMode = k.queries === 'decode' ? 'decode' : 'prefill';
      const { info, error, unwritten } = await runCase(ctx, c, mode, seededRandom(seed), {}, kvDtype);
      expect(info.kernel).toBe(mode);
      expect(unwritten, `seed ${seed}: first unwritten output element`).toBe(-1);
      expect(error, `seed ${seed}: against the dequantized reference`).toBeLessThan(F32_TOLERANCE);
      const { error: quantError } = await runCase(
        ctx,
        { ...c, kCache: exact.kCache, vCache: exact.vCache },
        mode,
        seededRandom(seed),
        {},
        kvDtype,
      );
      expect(quantError, `seed ${seed}: against the unquantized reference`).toBeLessThan(tolerance);
    });
  });
}

describe.skipIf(!gpu)('attention on an i8 pool', () => {
  quantizedPoolCases('i8', I8_CASES, roundKvToI8, I8_TOLERANCE, 5000);
});

describe.skipIf(!gpu)('attention on an i4 pool', () => {
  quantizedPoolCases('i4', I4_CASES, roundKvToI4, I4_TOLERANCE, 5100);
});

describe.skipIf(!gpu)('attention', () => {
  it('never allocates scratch for prefill: the score matrix does not exist', async () => {
    const ctx = await extraGpuForTests({});
    const c = buildAttentionCase(
      { seqs: [{ queryLen: 300, contextLen: 700 }], numHeads: 8, numKvHeads: 2, headDim: 64, blockSize: 16 },
      seededRandom(7),
    );
    const g = uploadAttentionCase(ctx!, c, { newTokensWritten: true });
    const rec = ctx!.recorder();
    const info = attention(rec, g.batch);
    rec.submit();
    await ctx!.sync();
    expect(info).toMatchObject({ kernel: 'prefill', scratchBytes: 0 });
    expect(attentionScratchBytes(ctx!)).toBe(0);
    g.destroy();
  });

  it('rejects a head dim that is not a multiple of 4 with a KernelShapeError', () => {
    const c = buildAttentionCase(
      { seqs: [{ queryLen: 1, contextLen: 5 }], numHeads: 2, numKvHeads: 1, headDim: 8, blockSize: 8 },
      seededRandom(8),
    );
    const g = uploadAttentionCase(gpu!, c, { newTokensWritten: true });
    const rec = gpu!.recorder();
    expect(() => attention(rec, { ...g.batch, headDim: 6 })).toThrow(KernelShapeError);
    expect(() => attention(rec, { ...g.batch, headDim: 6 })).toThrow(/multiple of 4/);
    g.destroy();
  });

  it('prefills many short chunks that straddle the position blocks of the rows kernel', async () => {
    const seed = 5006;
    const rand = seededRandom(seed);
    // Two-token chunks at positions 7 and 8 (and 3, 4): each touches two blocks of 4 or 8 positions.
    const seqs = Array.from({ length: 11 }, (_, s) => ({ queryLen: 2, contextLen: s % 2 === 0 ? 9 : 5 }));
    for (const headDim of [48, 64]) {
      const c = buildAttentionCase(
        { seqs, numHeads: 3, numKvHeads: 3, headDim, blockSize: 8, spareBlocks: 2 },
        rand,
      );
      const { info, error, unwritten } = await runCase(gpu!, c, 'prefill', rand);
      expect(info.kernel).toBe('prefill');
      expect(unwritten, `seed ${seed} d${headDim}: first unwritten output element`).toBe(-1);
      expect(error, `seed ${seed} d${headDim}`).toBeLessThan(F32_TOLERANCE);
    }
  });

  it('rejects the rows prefill kernel without subgroups with a KernelShapeError', () => {
    const c = buildAttentionCase(
      { seqs: [{ queryLen: 5, contextLen: 9 }], numHeads: 2, numKvHeads: 1, headDim: 8, blockSize: 8 },
      seededRandom(5005),
    );
    const g = uploadAttentionCase(portableGpu!, c, { newTokensWritten: true });
    expect(() => attention(portableGpu!.recorder(), g.batch, { prefillKernel: 'rows' })).toThrow(/subgroups/);
    g.destroy();
  });

  it.skipIf(!gpu?.features.subgroups)(
    'rejects an impossible kvHeadsPerWorkgroup with a KernelShapeError',
    () => {
      const c = buildAttentionCase(
        { seqs: [{ queryLen: 1, contextLen: 5 }], numHeads: 2, numKvHeads: 1, headDim: 8, blockSize: 8 },
        seededRandom(10),
      );
      const g = uploadAttentionCase(gpu!, c, { newTokensWritten: true });
      const rec = gpu!.recorder();
      for (const kvHeadsPerWorkgroup of [0, 1.5, 1 << 20]) {
        expect(() => attention(rec, g.batch, { mode: 'decode', kvHeadsPerWorkgroup })).toThrow(
          /kvHeadsPerWorkgroup must be an integer/,
        );
      }
      g.destroy();
    },
  );

  it('rejects an output buffer smaller than the batch', () => {
    const c = buildAttentionCase(
      { seqs: [{ queryLen: 3, contextLen: 5 }], numHeads: 2, numKvHeads: 1, headDim: 8, blockSize: 8 },
      seededRandom(9),
    );
    const g = uploadAttentionCase(gpu!, c, { newTokensWritten: true });
    const small = gpu!.createBuffer(16, 'small out');
    expect(() => attention(gpu!.recorder(), { ...g.batch, out: small })).toThrow(/out holds 16 bytes/);
    small.destroy();
    g.destroy();
  });
});

// The int8 output feeds a product over int8 activations in place of a quantization dispatch:
// it must be that dispatch's bits for every token, whichever path wrote it.
describe.skipIf(!gpu)('attention int8 output', () => {
  const cases = [
    // Decodes in one split each: the subgroup kernel writes it (a head's groups over 8, 4, 2 and 1 lanes).
    { headDim: 32, heads: [4, 4], ctxs: [37, 300, 1], queries: 'decode', by: 'kernel' },
    { headDim: 64, heads: [8, 2], ctxs: [129, 5, 512, 77, 260], queries: 'decode', by: 'kernel' },
    { headDim: 128, heads: [12, 1], ctxs: [64, 3], queries: 'decode', by: 'kernel' },
    { headDim: 256, heads: [2, 2], ctxs: [17, 90], queries: 'decode', by: 'kernel' },
    // A context past one split (merged), prompt tokens, and a head of 96 (3 vec4s a lane).
    { headDim: 64, heads: [4, 1], ctxs: [1030, 40], queries: 'decode', by: 'dispatch' },
    { headDim: 64, heads: [6, 3], ctxs: [53, 17], queries: 'prefill', by: 'dispatch' },
    { headDim: 96, heads: [4, 2], ctxs: [33, 200], queries: 'decode', by: 'dispatch' },
    // Heads of 48 whose row of 96 is three groups, each across two heads.
    { headDim: 48, heads: [2, 2], ctxs: [21, 8], queries: 'decode', by: 'dispatch' },
  ] as const;

  cases.forEach((k, i) => {
    it(`d${k.headDim} heads ${k.heads[0]}:${k.heads[1]} ${k.queries} at ${k.ctxs.join(',')}: by ${k.by}, quantizeGroupsI8's bits`, async () => {
      const rand = seededRandom(7100 + i);
      const seqs = k.ctxs.map((contextLen) => ({ queryLen: k.queries === 'decode' ? 1 : contextLen, contextLen }));
      const c = buildAttentionCase(
        { seqs, numHeads: k.heads[0], numKvHeads: k.heads[1], headDim: k.headDim, blockSize: 16, spareBlocks: 1 },
        rand,
      );
      const { run, q, g } = await runStepInt8(gpu!, c);
      expect(run.info.int8Out).toBe(k.by);
      const width = c.numHeads * c.headDim;
      const want = quantizeGroupsI8(run.out, c.numTokens, width);
      expect(Array.from(q)).toEqual(Array.from(want.q));
      const pairs = Array.from({ length: want.scales.length }, (_, j) => [g[2 * j], g[2 * j + 1]]);
      expect(pairs).toEqual(Array.from(want.scales, (sc, j) => [sc, want.sums[j]]));
      // The float output stays as it was without int8Out.
      expect(relativeL2(run.out, referenceRows(c, Array.from({ length: c.numTokens }, (_, t) => t)))).toBeLessThan(F32_TOLERANCE);
    });
  });

  it('quantizes through a dispatch on the portable path and after a mixed step', async () => {
    const c = buildAttentionCase(
      { seqs: [1, 1, 30].map((n, s) => ({ queryLen: n, contextLen: [40, 90, 30][s]! })), numHeads: 4, numKvHeads: 2, headDim: 64, blockSize: 16 },
      seededRandom(7200),
    );
    for (const [ctx, opts] of [
      [portableGpu, { decodeSeqs: 2 }],
      [gpu, { decodeSeqs: 2 }],
    ] as const) {
      if (!ctx) continue;
      const { run, q, g } = await runStepInt8(ctx, c, opts);
      expect(run.info).toMatchObject({ kernel: 'mixed', int8Out: 'dispatch' });
      const want = quantizeGroupsI8(run.out, c.numTokens, c.numHeads * c.headDim);
      expect(Array.from(q)).toEqual(Array.from(want.q));
      expect(Array.from(g.filter((_, j) => j % 2 === 0))).toEqual(Array.from(want.scales));
    }
  });

  it('rejects int8Out for rows that are not whole groups, or too small, with a KernelShapeError', () => {
    const c = buildAttentionCase(
      { seqs: [{ queryLen: 1, contextLen: 5 }], numHeads: 3, numKvHeads: 1, headDim: 8, blockSize: 8 },
      seededRandom(9),
    );
    const g = uploadAttentionCase(gpu!, c, { newTokensWritten: true });
    const xq = gpu!.createBuffer(256, 'xq');
    const xg = gpu!.createBuffer(64, 'xg');
    expect(() => attention(gpu!.recorder(), g.batch, { int8Out: { xq, xg } })).toThrow(KernelShapeError);
    expect(() => attention(gpu!.recorder(), g.batch, { int8Out: { xq, xg } })).toThrow(/multiple of 32, got 24/);
    g.destroy();
    const d = buildAttentionCase(
      { seqs: [{ queryLen: 1, contextLen: 5 }], numHeads: 2, numKvHeads: 1, headDim: 64, blockSize: 8 },
      seededRandom(9),
    );
    const h = uploadAttentionCase(gpu!, d, { newTokensWritten: true });
    expect(() => attention(gpu!.recorder(), h.batch, { int8Out: { xq, xg: gpu!.createBuffer(4, 'tiny') } })).toThrow(KernelShapeError);
    h.destroy();
    xq.destroy();
    xg.destroy();
  });
});

// A token's output must not depend on the rest of the step: how many sequences, how long, where
// the token sits, or how its prompt was chunked.
describe.skipIf(!gpu)('attention batch invariance', () => {
  const shape = { numHeads: 8, numKvHeads: 2, headDim: 64, blockSize: 16, spareBlocks: 2 };
  const rowLen = shape.numHeads * shape.headDim;

  /** A case whose sequences are full prompts of these lengths, for sliceBatch. */
  const promptCase = (lengths: number[], seed: number) =>
    buildAttentionCase(
      { ...shape, seqs: lengths.map((n) => ({ queryLen: n, contextLen: n })) },
      seededRandom(seed),
    );

  /** The output rows of slice i's tokens in a step made by sliceBatch. */
  const sliceRows = (step: HostAttentionCase, out: Float32Array, i: number) =>
    out.subarray(step.queryStarts[i]! * rowLen, step.queryStarts[i + 1]! * rowLen);

  /** The first element whose bits differ between two runs' rows, or undefined when none does. */
  const bitsDiffer = (a: Float32Array, b: Float32Array): number | undefined => {
    const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
    const at = x.findIndex((bits, i) => bits !== y[i]);
    return at < 0 && x.length === y.length ? undefined : at;
  };

  const adapters = () =>
    [
      ['adapter', gpu!],
      ['portable', portableGpu!],
    ] as const;

  // i8 and i4: the same reads in the same order, each vec4 dequantised as it is loaded.
  it.each(['f32', 'i8', 'i4'] as const)(
    'gives a decode token the same bits alone and batched with longer and shorter contexts (%s pool)',
    async (kv) => {
      const seed = 5001;
      for (const [name, ctx] of adapters()) {
        // Contexts on both sides of this adapter's chunk length: one split and no merge, two, more.
        const probe = await runStep(ctx, promptCase([3], seed), { mode: 'decode' });
        const chunk = probe.info.keysPerWorkgroup;
        const lengths = [chunk + 1, 4 * chunk + 3, 37, 2 * chunk + 37, chunk, chunk - 1, 1];
        const built = promptCase(lengths, seed);
        const source = kv === 'i8' ? roundKvToI8(built) : kv === 'i4' ? roundKvToI4(built) : built;
        const decode = (s: number): SequenceSlice => ({ seq: s, start: lengths[s]! - 1, len: 1 });
        const all = lengths.map((_, s) => s);
        const alone: Float32Array[] = [];
        for (const s of all) {
          const step = sliceBatch(source, [decode(s)]);
          const { info, out } = await runStep(ctx, step, { mode: 'decode' }, kv);
          expect(info.keysPerWorkgroup, `${name}: the chunk length is the same for every batch`).toBe(chunk);
          const error = relativeL2(out, referenceRows(step, [0]));
          expect(error, `${name}: sequence ${s} alone against the reference`).toBeLessThan(F32_TOLERANCE);
          alone.push(out);
        }
        const differ: string[] = [];
        for (const order of [all, [...all].reverse(), [5, 2, 0], [3, 1, 4, 6]]) {
          const step = sliceBatch(source, order.map(decode));
          const { out } = await runStep(ctx, step, { mode: 'decode' }, kv);
          order.forEach((s, i) => {
            const at = bitsDiffer(sliceRows(step, out, i), alone[s]!);
            if (at !== undefined)
              differ.push(`${name}: sequence ${s} at ${i} of [${order}] differs at ${at}`);
          });
        }
        expect(differ, `seed ${seed}`).toEqual([]);
      }
    },
  );

  it.each([
    ['f32', 'rows'],
    ['i8', 'rows'],
    ['f32', 'flash'],
    ['i8', 'flash'],
  ] as const)(
    'gives a prompt token the same bits whatever the chunking and the sequences beside it (%s pool, %s kernel)',
    async (kv, prefillKernel) => {
      const seed = 5002;
      const length = 53;
      // Sequence 1 rides along in some steps, before or after the prompt's chunk.
      const built = promptCase([length, 40], seed);
      const source = kv === 'i8' ? roundKvToI8(built) : built;
      const chunkings = [
        [53],
        [16, 16, 16, 5],
        [37, 16],
        [...Array<number>(17).fill(3), 2],
        Array<number>(53).fill(1),
      ];
      const runChunks = async (sizes: number[]) => {
        const rows = new Float32Array(length * rowLen);
        let start = 0;
        for (const [i, len] of sizes.entries()) {
          const prompt: SequenceSlice = { seq: 0, start, len };
          const companion: SequenceSlice = { seq: 1, start: (7 * i) % 30, len: 1 + ((5 * i) % 10) };
          const slices = i % 3 === 0 ? [prompt] : i % 3 === 1 ? [companion, prompt] : [prompt, companion];
          const step = sliceBatch(source, slices);
          // One-token chunks are prompt tokens too: the prefill kernel, whatever the step looks like.
          const { out } = await runStep(gpu!, step, { mode: 'prefill', prefillKernel }, kv);
          rows.set(sliceRows(step, out, slices.indexOf(prompt)), start * rowLen);
          start += len;
        }
        return rows;
      };
      const whole = await runChunks(chunkings[0]!);
      const step = sliceBatch(source, [{ seq: 0, start: 0, len: length }]);
      const positions = Array.from({ length }, (_, p) => p);
      expect(relativeL2(whole, referenceRows(step, positions)), `seed ${seed}`).toBeLessThan(F32_TOLERANCE);
      for (const sizes of chunkings.slice(1)) {
        const rows = await runChunks(sizes);
        const differ = positions.filter(
          (p) =>
            bitsDiffer(
              rows.subarray(p * rowLen, (p + 1) * rowLen),
              whole.subarray(p * rowLen, (p + 1) * rowLen),
            ) !== undefined,
        );
        expect(differ, `seed ${seed}: positions that differ with chunks [${sizes}]`).toEqual([]);
      }
    },
  );

  it('runs decodes and prefill chunks in one step (decodeSeqs) as the two kernels do apart', async () => {
    const seed = 5003;
    const lengths = [300, 2000, 37, 90, 61, 20];
    const source = promptCase(lengths, seed);
    const decodes: SequenceSlice[] = [0, 1, 2].map((s) => ({ seq: s, start: lengths[s]! - 1, len: 1 }));
    // A chunk in the middle of a prompt, a whole prompt, and a final one-token prompt chunk.
    const prompts: SequenceSlice[] = [
      { seq: 3, start: 40, len: 50 },
      { seq: 4, start: 0, len: 61 },
      { seq: 5, start: 19, len: 1 },
    ];
    const mixed = sliceBatch(source, [...decodes, ...prompts]);
    const decodeStep = sliceBatch(source, decodes);
    const prefillStep = sliceBatch(source, prompts);
    for (const [name, ctx] of adapters()) {
      const { info, out } = await runStep(ctx, mixed, { decodeSeqs: decodes.length });
      expect(info).toMatchObject({ kernel: 'mixed', decodeTokens: 3 });
      expect(
        out.findIndex((x) => Number.isNaN(x)),
        `${name}: first unwritten element`,
      ).toBe(-1);
      const all = Array.from({ length: mixed.numTokens }, (_, t) => t);
      expect(relativeL2(out, referenceRows(mixed, all)), `${name}: against the reference`).toBeLessThan(
        F32_TOLERANCE,
      );
      const apart = new Float32Array(out.length);
      apart.set((await runStep(ctx, decodeStep, { mode: 'decode' })).out, 0);
      apart.set((await runStep(ctx, prefillStep, { mode: 'prefill' })).out, decodes.length * rowLen);
      expect(
        bitsDiffer(out, apart),
        `${name}: first word that differs from the kernels run apart`,
      ).toBeUndefined();
    }
  });

  it('rejects decodeSeqs beside a mode or past the batch with a KernelShapeError', () => {
    const c = promptCase([5, 3], 5004);
    const g = uploadAttentionCase(gpu!, c, { newTokensWritten: true });
    const rec = gpu!.recorder();
    expect(() => attention(rec, g.batch, { decodeSeqs: 1, mode: 'prefill' })).toThrow(/decodeSeqs/);
    expect(() => attention(rec, g.batch, { decodeSeqs: 3 })).toThrow(KernelShapeError);
    expect(() => attention(rec, g.batch, { decodeSeqs: 2 })).toThrow(/covers every sequence/);
    g.destroy();
  });
});
