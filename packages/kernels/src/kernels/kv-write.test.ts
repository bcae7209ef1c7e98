import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, randomFloats, seededRandom } from '../testing/index.js';
import { kvWrite } from './kv-write.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('kvWrite', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it('scatters K and V rows into their slots of the paged pool and skips 0xFFFFFFFF', async () => {
    const rand = seededRandom(seed);
    const [numBlocks, blockSize, numKvHeads, headDim, tokens] = [5, 4, 3, 7, 6];
    const rowLen = numKvHeads * headDim;
    const k = randomFloats(rand, tokens * rowLen);
    const v = randomFloats(rand, tokens * rowLen);
    const slots = new Uint32Array([17, 0, 3, 0xffffffff, 8, 19]);
    const kCache = poisonF32(numBlocks * blockSize * rowLen);
    const vCache = poisonF32(numBlocks * blockSize * rowLen);
    const kb = ctx.upload(kCache, 'kCache');
    const vb = ctx.upload(vCache, 'vCache');
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
    });
    rec.submit();
    const gotK = new Float32Array(await ctx.read(kb, 0, kCache.byteLength));
    const gotV = new Float32Array(await ctx.read(vb, 0, vCache.byteLength));
    reference.kvWrite(k, v, slots, { numKvHeads, headDim, blockSize }, kCache, vCache);
    expect(gotK).toEqual(kCache);
    expect(gotV).toEqual(vCache);
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
