import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { f32ToF16Bits } from '@llm/quant';
import { gpuForTests, poisonF32, randomFloats, seededRandom } from '../testing/index.js';
import { kvWrite } from './kv-write.js';
import { kvPoolRowBytes, packKvI4Pool, packKvI8Pool, unpackKvI4Pool, unpackKvI8Pool } from './kv-pool-format.js';
import { GPU_DTYPES, dtypeBytes } from '@llm/quant';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('kvWrite', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // An f16 pool is compared bit for bit with the reference's values rounded to nearest.
  it.each(GPU_DTYPES)(
    'scatters K and V rows into their slots of a %s pool and skips 0xFFFFFFFF',
    async (kvDtype) => {
      const rand = seededRandom(seed);
      // An odd head dim where the pool allows one (f16 writes element pairs).
      const [numBlocks, blockSize, numKvHeads, headDim, tokens] = [5, 4, 3, kvDtype === 'f16' ? 6 : 7, 6];
      const rowLen = numKvHeads * headDim;
      const k = randomFloats(rand, tokens * rowLen, -3, 3);
      const v = randomFloats(rand, tokens * rowLen, -3, 3);
      const slots = new Uint32Array([17, 0, 3, 0xffffffff, 8, 19]);
      const elements = numBlocks * blockSize * rowLen;
      // NaN in every element: what the kernel does not write stays NaN.
      const kCache = poisonF32(elements);
      const vCache = poisonF32(elements);
      const held = (pool: Float32Array) =>
        kvDtype === 'f16'
          ? Uint16Array.from(pool, (x) => (Number.isNaN(x) ? 0x7e00 : f32ToF16Bits(x)))
          : pool;
      const kb = ctx.upload(held(kCache), 'kCache');
      const vb = ctx.upload(held(vCache), 'vCache');
      const rec = ctx.recorder();
      kvWrite(rec, {
        k: ctx.upload(k, 'k'),
        v: ctx.upload(v, 'v'),
        slots: ctx.upload(slots, 'slots'),
        kCache: kb,
        vCache: vb,
        tokens,
        numKvHeads,
        headDim,
        numBlocks,
        blockSize,
        kvDtype,
      });
      rec.submit();
      const bytes = elements * dtypeBytes(kvDtype);
      const view = (b: ArrayBuffer) => (kvDtype === 'f16' ? new Uint16Array(b) : new Float32Array(b));
      const gotK = view(await ctx.read(kb, 0, bytes));
      const gotV = view(await ctx.read(vb, 0, bytes));
      reference.kvWrite(k, v, slots, { numKvHeads, headDim, blockSize }, kCache, vCache);
      expect(gotK).toEqual(held(kCache));
      expect(gotV).toEqual(held(vCache));
    },
  );

  /**
   * Writes `tokens` new rows (the second skipped) into a quantized pool that already holds other
   * rows, and compares its words with the CPU's: the f32 values the pool held, the new rows
   * written, all quantized again (a dequantized row quantizes to the same bits).
   */
  async function checkQuantizedWrite(
    kvDtype: 'i8' | 'i4',
    shape: { headDim: number; tokens: number; numBlocks: number; blockSize: number; numKvHeads: number },
    k: (rand: () => number, length: number) => Float32Array,
  ): Promise<void> {
    const { headDim, tokens, numBlocks, blockSize, numKvHeads } = shape;
    const [pack, unpack] = kvDtype === 'i8' ? [packKvI8Pool, unpackKvI8Pool] : [packKvI4Pool, unpackKvI4Pool];
    const rand = seededRandom(seed + headDim + (kvDtype === 'i4' ? 1 : 0));
    const rowLen = numKvHeads * headDim;
    const rows = numBlocks * blockSize * numKvHeads;
    const kNew = k(rand, tokens * rowLen);
    const vNew = randomFloats(rand, tokens * rowLen, -3, 3);
    const slots = new Uint32Array(tokens);
    const perm = [...Array(numBlocks * blockSize).keys()].sort(() => rand() - 0.5);
    for (let t = 0; t < tokens; t++) slots[t] = perm[t]!;
    slots[1] = 0xffffffff;
    const kStart = pack(randomFloats(rand, rows * headDim, -2, 2), headDim);
    const vStart = pack(randomFloats(rand, rows * headDim, -5, 5), headDim);
    expect(kStart.byteLength).toBe(rows * kvPoolRowBytes(kvDtype, headDim));
    const kb = ctx.upload(kStart, 'kCache');
    const vb = ctx.upload(vStart, 'vCache');
    const rec = ctx.recorder();
    kvWrite(rec, {
      k: ctx.upload(kNew, 'k'),
      v: ctx.upload(vNew, 'v'),
      slots: ctx.upload(slots, 'slots'),
      kCache: kb,
      vCache: vb,
      tokens,
      numKvHeads,
      headDim,
      numBlocks,
      blockSize,
      kvDtype,
    });
    rec.submit();
    // Buffers are whole 16-byte units: the pool is their first words.
    const gotK = new Uint32Array(await ctx.read(kb)).subarray(0, kStart.length);
    const gotV = new Uint32Array(await ctx.read(vb)).subarray(0, vStart.length);
    const kRef = unpack(kStart, headDim, rows);
    const vRef = unpack(vStart, headDim, rows);
    reference.kvWrite(kNew, vNew, slots, { numKvHeads, headDim, blockSize }, kRef, vRef);
    expect(gotK).toEqual(pack(kRef, headDim));
    expect(gotV).toEqual(pack(vRef, headDim));
    expect(pack(unpack(kStart, headDim, rows), headDim)).toEqual(kStart);
  }

  // Odd token count, rows of both halves of a scale word, a neighbour row that must keep its scale.
  it.each([
    [64, 7],
    [80, 5],
    [96, 9],
  ])('quantizes K and V rows into an i8 pool (head dim %i, %i tokens) bit for bit as the CPU does', async (headDim, tokens) => {
    // Rows of different magnitudes, so that the scales differ.
    await checkQuantizedWrite('i8', { headDim, tokens, numBlocks: 4, blockSize: 6, numKvHeads: 3 }, (rand, length) =>
      Float32Array.from({ length }, (_, i) => (rand() * 2 - 1) * 4 ** ((i / headDim) % 5)),
    );
  });

  // Any blockSize (rows share no words); head dims of 2 and 4 scale groups, groups of 4-32 values.
  it.each([
    [8, 7, 5],
    [64, 5, 6],
    [32, 9, 3],
    [128, 4, 16],
  ])('quantizes K and V rows into an i4 pool (head dim %i, %i tokens, blockSize %i) bit for bit as the CPU does', async (headDim, tokens, blockSize) => {
    // Values whose magnitude changes every 4 elements, so that a row's group scales differ.
    await checkQuantizedWrite('i4', { headDim, tokens, numBlocks: 3, blockSize, numKvHeads: 2 }, (rand, length) =>
      Float32Array.from({ length }, (_, i) => (rand() * 2 - 1) * 3 ** ((i >> 2) % 5)),
    );
  });

  it('rejects an f16 pool with an odd head dim and an unknown kvDtype', () => {
    const b = ctx.createBuffer(4096, 'b');
    const args = {
      k: b,
      v: b,
      slots: b,
      kCache: ctx.createBuffer(4096, 'kc'),
      vCache: ctx.createBuffer(4096, 'vc'),
      tokens: 1,
      numKvHeads: 1,
      headDim: 7,
      numBlocks: 4,
      blockSize: 16,
    };
    expect(() => kvWrite(ctx.recorder(), { ...args, kvDtype: 'f16' })).toThrow(/even headDim/);
    expect(() => kvWrite(ctx.recorder(), { ...args, headDim: 8, blockSize: 15, kvDtype: 'i8' })).toThrow(
      /even blockSize/,
    );
    expect(() => kvWrite(ctx.recorder(), { ...args, headDim: 72, kvDtype: 'i4' })).toThrow(/an i4 pool needs a headDim/);
    expect(() => kvWrite(ctx.recorder(), { ...args, kvDtype: 'bf16' as 'f16' })).toThrow(/kvDtype must be/);
  });

  it('reads K and V out of a fused QKV row with strides and offsets', async () => {
    const rand = seededRandom(seed + 1);
    const [numBlocks, blockSize, numKvHeads, headDim, tokens, numHeads] = [2, 8, 2, 4, 3, 4];
    const rowLen = numKvHeads * headDim;
    const row = (numHeads + 2 * numKvHeads) * headDim;
    const qkv = randomFloats(rand, tokens * row);
    const qkvB = ctx.upload(qkv, 'qkv');
    const kb = ctx.upload(poisonF32(numBlocks * blockSize * rowLen), 'kCache');
    const vb = ctx.upload(poisonF32(numBlocks * blockSize * rowLen), 'vCache');
    const slots = new Uint32Array([9, 10, 11]);
    const rec = ctx.recorder();
    kvWrite(rec, {
      k: qkvB,
      v: qkvB,
      slots: ctx.upload(slots, 'slots'),
      kCache: kb,
      vCache: vb,
      tokens,
      numKvHeads,
      headDim,
      numBlocks,
      blockSize,
      kStride: row,
      kOffset: numHeads * headDim,
      vStride: row,
      vOffset: (numHeads + numKvHeads) * headDim,
    });
    rec.submit();
    const gotK = new Float32Array(await ctx.read(kb));
    const gotV = new Float32Array(await ctx.read(vb));
    for (let t = 0; t < tokens; t++) {
      const kRow = qkv.subarray(t * row + numHeads * headDim, t * row + (numHeads + numKvHeads) * headDim);
      const vRow = qkv.subarray(t * row + (numHeads + numKvHeads) * headDim, (t + 1) * row);
      for (let h = 0; h < numKvHeads; h++) {
        // The pool holds each (block, KV head) as one contiguous blockSize x headDim tile.
        const block = Math.floor(slots[t]! / blockSize);
        const at = ((block * numKvHeads + h) * blockSize + (slots[t]! % blockSize)) * headDim;
        expect(gotK.subarray(at, at + headDim)).toEqual(kRow.subarray(h * headDim, (h + 1) * headDim));
        expect(gotV.subarray(at, at + headDim)).toEqual(vRow.subarray(h * headDim, (h + 1) * headDim));
      }
    }
    expect(Number.isNaN(gotK[0]!)).toBe(true);
  });

  it('rejects a cache smaller than the pool shape', () => {
    const b = ctx.createBuffer(4096, 'b');
    expect(() =>
      kvWrite(ctx.recorder(), {
        k: b,
        v: b,
        slots: b,
        kCache: ctx.createBuffer(64, 'kc'),
        vCache: ctx.createBuffer(64, 'vc'),
        tokens: 1,
        numKvHeads: 1,
        headDim: 8,
        numBlocks: 4,
        blockSize: 16,
      }),
    ).toThrow(KernelShapeError);
  });
});
