import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, randomFloats, relativeL2, seededRandom } from '../testing/index.js';
import { kvWrite } from './kv-write.js';
import { rope } from './rope.js';
import type { RopeLayout } from './rope.wgsl.js';

const gpu = await gpuForTests();

interface Case {
  tokens: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  theta: number;
  layout: RopeLayout;
  maxPosition: number;
  factors?: boolean;
  positionScale?: number;
}

describe.skipIf(!gpu)('rope', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // f32 angles (as llama.cpp computes them) against f64 ones: the angle p * inv_freq carries a
  // relative rounding error of a few 2^-24, up to ~8e-4 rad at position 4096, so the bound
  // scales with the largest position (measured: relative L2 ≈ position * 2^-26).
  const tolerance = (maxPosition: number): number => Math.max(1e-6, maxPosition * 2 ** -24);

  it.each<Case>([
    { tokens: 5, numHeads: 4, numKvHeads: 2, headDim: 16, theta: 10000, layout: 'adjacent', maxPosition: 10 },
    {
      tokens: 9,
      numHeads: 3,
      numKvHeads: 1,
      headDim: 64,
      theta: 10000,
      layout: 'halfSplit',
      maxPosition: 4096,
    },
    {
      tokens: 7,
      numHeads: 2,
      numKvHeads: 2,
      headDim: 128,
      theta: 500000,
      layout: 'adjacent',
      maxPosition: 4096,
      factors: true,
    },
    {
      tokens: 4,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 6,
      theta: 10000,
      layout: 'halfSplit',
      maxPosition: 2000,
      positionScale: 0.25,
    },
  ])('matches the f64 reference: %o', async (c) => {
    const rand = seededRandom(seed);
    const q = randomFloats(rand, c.tokens * c.numHeads * c.headDim);
    const k = randomFloats(rand, c.tokens * c.numKvHeads * c.headDim);
    const positions = new Uint32Array(c.tokens).map(() => Math.floor(rand() * (c.maxPosition + 1)));
    positions[0] = c.maxPosition;
    const factors = c.factors ? randomFloats(rand, c.headDim / 2, 1, 8) : undefined;
    const qb = ctx.upload(q, 'q');
    const kb = ctx.upload(k, 'k');
    const rec = ctx.recorder();
    rope(rec, {
      q: qb,
      k: kb,
      positions: ctx.upload(positions, 'positions'),
      tokens: c.tokens,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      theta: c.theta,
      layout: c.layout,
      freqFactors: factors && ctx.upload(factors, 'factors'),
      positionScale: c.positionScale,
    });
    rec.submit();
    const gotQ = new Float32Array(await ctx.read(qb, 0, q.byteLength));
    const gotK = new Float32Array(await ctx.read(kb, 0, k.byteLength));
    reference.rope({ ...c, q, k, positions, freqFactors: factors });
    const err = Math.max(relativeL2(gotQ, q), relativeL2(gotK, k));
    expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(tolerance(c.maxPosition));
  });

  it('rotates q and k in place inside one fused QKV buffer', async () => {
    const rand = seededRandom(seed + 1);
    const [tokens, numHeads, numKvHeads, headDim] = [3, 4, 2, 8];
    const row = (numHeads + 2 * numKvHeads) * headDim;
    const qkv = randomFloats(rand, tokens * row);
    const positions = new Uint32Array([0, 1, 77]);
    const buf = ctx.upload(qkv, 'qkv');
    const rec = ctx.recorder();
    rope(rec, {
      q: buf,
      k: buf,
      positions: ctx.upload(positions, 'positions'),
      tokens,
      numHeads,
      numKvHeads,
      headDim,
      theta: 10000,
      layout: 'adjacent',
      qStride: row,
      kStride: row,
      kOffset: numHeads * headDim,
    });
    rec.submit();
    const got = new Float32Array(await ctx.read(buf, 0, qkv.byteLength));
    const q = new Float32Array(tokens * numHeads * headDim);
    const k = new Float32Array(tokens * numKvHeads * headDim);
    const v = new Float32Array(tokens * numKvHeads * headDim);
    const split = (src: Float32Array) => {
      for (let t = 0; t < tokens; t++) {
        q.set(src.subarray(t * row, t * row + numHeads * headDim), t * numHeads * headDim);
        k.set(
          src.subarray(t * row + numHeads * headDim, t * row + (numHeads + numKvHeads) * headDim),
          t * numKvHeads * headDim,
        );
        v.set(
          src.subarray(t * row + (numHeads + numKvHeads) * headDim, (t + 1) * row),
          t * numKvHeads * headDim,
        );
      }
      return [q.slice(), k.slice(), v.slice()] as const;
    };
    const [q0, k0, v0] = split(qkv);
    reference.rope({
      q: q0,
      k: k0,
      positions,
      tokens,
      numHeads,
      numKvHeads,
      headDim,
      theta: 10000,
      layout: 'adjacent',
    });
    const [q1, k1, v1] = split(got);
    expect(relativeL2(q1, q0)).toBeLessThan(1e-5);
    expect(relativeL2(k1, k0)).toBeLessThan(1e-5);
    expect(v1).toEqual(v0);
  });

  // The engine's layout: q in its own buffer, K|V side by side in another. The fused write must
  // leave the pool, q and k with the same bits as rope followed by kvWrite, slot skips and the
  // untouched (NaN-poisoned) slots included.
  it.each([
    ['f32', 'adjacent'],
    ['f32', 'halfSplit'],
    ['f16', 'adjacent'],
  ] as const)(
    'writes rotated K and V into an %s pool (%s) exactly as rope then kvWrite',
    async (kvDtype, layout) => {
      const rand = seededRandom(seed + 2);
      const [tokens, numHeads, numKvHeads, headDim, numBlocks, blockSize] = [13, 6, 2, 24, 5, 4];
      const kvLen = numKvHeads * headDim;
      const q = randomFloats(rand, tokens * numHeads * headDim);
      const kv = randomFloats(rand, tokens * 2 * kvLen);
      const positions = new Uint32Array(tokens).map(() => Math.floor(rand() * 3000));
      // Distinct slots in shuffled order, one token skipped.
      const slots = new Uint32Array(
        Array.from({ length: numBlocks * blockSize }, (_, i) => i)
          .sort(() => rand() - 0.5)
          .slice(0, tokens),
      );
      slots[5] = 0xffffffff;
      const poolWords = (numBlocks * blockSize * kvLen) / (kvDtype === 'f16' ? 2 : 1);
      const poison = new Uint32Array(poolWords).fill(0x7fc00000);
      const run = async (fused: boolean) => {
        const qb = ctx.upload(q, 'q');
        const kvb = ctx.upload(kv, 'kv');
        const kCache = ctx.upload(poison, 'kCache');
        const vCache = ctx.upload(poison, 'vCache');
        const slotsBuf = ctx.upload(slots, 'slots');
        const rec = ctx.recorder();
        const pool = { slots: slotsBuf, kCache, vCache, numBlocks, blockSize, kvDtype };
        const args = {
          q: qb,
          k: kvb,
          positions: ctx.upload(positions, 'positions'),
          tokens,
          numHeads,
          numKvHeads,
          headDim,
          theta: 10000,
          layout,
          kStride: 2 * kvLen,
        };
        if (fused) {
          rope(rec, { ...args, kvWrite: { ...pool, v: kvb, vStride: 2 * kvLen, vOffset: kvLen } });
        } else {
          rope(rec, args);
          kvWrite(rec, {
            ...pool,
            k: kvb,
            v: kvb,
            kStride: 2 * kvLen,
            vStride: 2 * kvLen,
            vOffset: kvLen,
            tokens,
            numKvHeads,
            headDim,
          });
        }
        rec.submit();
        const read = (b: GPUBuffer, bytes: number) => ctx.read(b, 0, bytes).then((x) => new Uint32Array(x));
        return Promise.all([
          read(qb, q.byteLength),
          read(kvb, kv.byteLength),
          read(kCache, poison.byteLength),
          read(vCache, poison.byteLength),
        ]);
      };
      const apart = await run(false);
      const fused = await run(true);
      ['q', 'k|v', 'kCache', 'vCache'].forEach((what, i) =>
        expect(fused[i], `seed ${seed}: ${what}`).toEqual(apart[i]),
      );
      // Something was written: the pool differs from the poison in the written slots only.
      expect(fused[2]!.some((w) => w !== 0x7fc00000)).toBe(true);
    },
  );

  it('rejects kvWrite into an i8 pool or an f16 pool with the halfSplit layout', () => {
    const b = (n: number) => ctx.createBuffer(n, 'b');
    const base = {
      q: b(4096),
      k: b(4096),
      positions: b(16),
      tokens: 2,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 8,
      theta: 1e4,
    };
    const pool = { v: b(4096), slots: b(16), kCache: b(4096), vCache: b(4096), numBlocks: 2, blockSize: 4 };
    expect(() =>
      rope(ctx.recorder(), { ...base, layout: 'halfSplit', kvWrite: { ...pool, kvDtype: 'f16' } }),
    ).toThrow(/adjacent/);
    expect(() =>
      rope(ctx.recorder(), { ...base, layout: 'adjacent', kvWrite: { ...pool, kvDtype: 'i8' as 'f16' } }),
    ).toThrow(KernelShapeError);
  });

  it('rejects an odd head dim', () => {
    const b = ctx.createBuffer(1024, 'b');
    expect(() =>
      rope(ctx.recorder(), {
        q: b,
        k: ctx.createBuffer(1024, 'k'),
        positions: ctx.createBuffer(16, 'p'),
        tokens: 1,
        numHeads: 1,
        numKvHeads: 1,
        headDim: 7,
        theta: 1e4,
        layout: 'adjacent',
      }),
    ).toThrow(KernelShapeError);
  });
});
