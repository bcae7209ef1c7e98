import { describe, expect, it } from 'vitest';
import { dequantize, I8_GROUP, quantizeGroupsI8 } from '@llm/quant';
import { KernelShapeError } from '../runtime/errors.js';
import {
  gpuForTests,
  poisonF32,
  randomBlocks,
  randomFloats,
  relativeL2,
  seededRandom,
} from '../testing/index.js';
import { embedding } from './embedding.js';
import { linear } from './linear.js';
import { rmsNorm } from './rms-norm.js';
import { rope as ropeKernel } from './rope.js';
import { uploadMatrix, type GpuMatrix } from './matrix.js';
import { PAIR_LANES } from './int8-pairs.js';

const gpu = await gpuForTests();
const usable = gpu !== undefined && (gpu.subgroupSize ?? 0) >= PAIR_LANES && gpu.features.subgroups;

/** f64 x · Wᵀ with x as its int8 groups stand for (q * scale) and W as the codec decodes it. */
function referenceProduct(w: Float32Array, n: number, k: number, x: Float32Array, m: number): Float64Array {
  const { q, scales } = quantizeGroupsI8(x, m, k);
  const out = new Float64Array(m * n);
  for (let t = 0; t < m; t++) {
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += w[r * k + c]! * q[t * k + c]! * scales[((t * k + c) / I8_GROUP) | 0]!;
      out[t * n + r] = s;
    }
  }
  return out;
}

interface PairsCase {
  dtype: 'q4_0' | 'q8_0';
  m: number;
  n: number;
  k: number;
  how: 'quantized' | 'bytes';
  epilogue?: 'store' | 'residual' | 'bias' | 'split' | 'glu';
  maxPartBytes?: number;
}

describe.skipIf(!usable)('linear over Q4_0 and Q8_0 with int8 activations (pairs layout)', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  async function run(c: PairsCase, s: number) {
    const rand = seededRandom(s);
    const bytes = randomBlocks(c.dtype, c.n * c.k, rand, c.how);
    const w = dequantize(c.dtype, bytes, c.n * c.k);
    const x = randomFloats(rand, c.m * c.k, -2, 2);
    const matrix = uploadMatrix(ctx, bytes, c.n, c.k, c.dtype, {
      activations: 'int8',
      ...(c.maxPartBytes ? { maxPartBytes: c.maxPartBytes } : {}),
    });
    const prod = referenceProduct(w, c.n, c.k, x, c.m);
    const xb = ctx.upload(x, 'x');
    const bias = randomFloats(rand, c.n);
    const residual = randomFloats(rand, c.m * c.n);
    const at = 3;
    const outLen = c.epilogue === 'glu' ? (c.m * c.n) / 2 : c.epilogue === 'split' ? c.m * at : c.m * c.n;
    const out = ctx.upload(poisonF32(outLen), 'out');
    const out2 = ctx.upload(poisonF32(c.m * (c.n - at)), 'out2');
    const rec = ctx.recorder();
    linear(rec, {
      x: xb,
      w: matrix,
      out,
      m: c.m,
      ...(c.epilogue === 'bias' ? { bias: ctx.upload(bias, 'bias') } : {}),
      ...(c.epilogue === 'residual' ? { residual: ctx.upload(residual, 'residual') } : {}),
      ...(c.epilogue === 'split' ? { split: { at, out: out2 } } : {}),
      ...(c.epilogue === 'glu' ? { glu: true } : {}),
    });
    rec.submit();
    const got = new Float32Array(await ctx.read(out, 0, outLen * 4));
    let want: Float64Array;
    if (c.epilogue === 'glu') {
      want = new Float64Array(outLen);
      for (let t = 0; t < c.m; t++) {
        for (let i = 0; i < c.n / 2; i++) {
          const gate = prod[t * c.n + 2 * i]!;
          want[t * (c.n / 2) + i] = (gate / (1 + Math.exp(-gate))) * prod[t * c.n + 2 * i + 1]!;
        }
      }
    } else if (c.epilogue === 'split') {
      const got2 = new Float32Array(await ctx.read(out2, 0, c.m * (c.n - at) * 4));
      const joined = new Float32Array(c.m * c.n);
      for (let t = 0; t < c.m; t++) {
        joined.set(got.subarray(t * at, (t + 1) * at), t * c.n);
        joined.set(got2.subarray(t * (c.n - at), (t + 1) * (c.n - at)), t * c.n + at);
      }
      want = prod;
      return { got: joined, want, x, w };
    } else {
      want = prod.map(
        (v, i) => v + (c.epilogue === 'bias' ? bias[i % c.n]! : c.epilogue === 'residual' ? residual[i]! : 0),
      );
    }
    matrix.destroy();
    return { got, want, x, w };
  }

  // One token (decode), two, and the 4-token blocks of 2 pairs with a partial last block; odd row
  // counts (a zero row completes the last pair), several blocks of pairs, several parts, several
  // uniform windows of x.
  const cases: PairsCase[] = (['q4_0', 'q8_0'] as const).flatMap((dtype): PairsCase[] => [
    { dtype, m: 1, n: 37, k: 64, how: 'quantized' },
    { dtype, m: 2, n: 18, k: 96, how: 'bytes', epilogue: 'residual' },
    { dtype, m: 1, n: 5, k: 256, how: 'bytes', epilogue: 'bias' },
    { dtype, m: 7, n: 33, k: 64, how: 'quantized', epilogue: 'split' },
    { dtype, m: 3, n: 40, k: 128, how: 'bytes', epilogue: 'glu' },
    { dtype, m: 1, n: 20, k: 32, how: 'quantized', epilogue: 'glu' },
    { dtype, m: 9, n: 50, k: 64, how: 'quantized', maxPartBytes: 16 * 36 * 2 },
    // x in uniform windows of 8 tokens (K = 2048: 8 KiB a token), the last one partial.
    { dtype, m: 19, n: 10, k: 2048, how: 'bytes', epilogue: 'residual' },
  ]);
  it.each(cases)(
    'matches the f64 product over the codec-decoded weights and the int8 groups: %o',
    async (c) => {
      const { got, want } = await run(c, seed);
      const err = relativeL2(got, want);
      expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-5);
    },
  );

  it('stays within int8 rounding of the float product', async () => {
    const c: PairsCase = { dtype: 'q4_0', m: 2, n: 64, k: 256, how: 'quantized' };
    const { got, x, w } = await run(c, seed + 1);
    const float = new Float64Array(c.m * c.n);
    for (let t = 0; t < c.m; t++) {
      for (let r = 0; r < c.n; r++) {
        let s = 0;
        for (let i = 0; i < c.k; i++) s += w[r * c.k + i]! * x[t * c.k + i]!;
        float[t * c.n + r] = s;
      }
    }
    const err = relativeL2(got, float);
    expect(err, `seed ${seed + 1}`).toBeGreaterThan(0);
    expect(err, `seed ${seed + 1}`).toBeLessThan(2e-2);
  });

  /** `linear` of `count` rows of x over the matrix, into a poisoned output, read back. */
  async function plainProduct(matrix: GpuMatrix, rows: Float32Array, count: number): Promise<Float32Array> {
    const out = ctx.upload(poisonF32(count * matrix.rows), 'out');
    const rec = ctx.recorder();
    linear(rec, { x: ctx.upload(rows, 'x'), w: matrix, out, m: count });
    rec.submit();
    return new Float32Array(await ctx.read(out, 0, count * matrix.rows * 4));
  }

  it('gives each token the same bits alone and in any batch', async () => {
    const rand = seededRandom(seed + 2);
    const n = 26;
    const k = 96;
    const m = 11;
    const x = randomFloats(rand, m * k, -3, 3);
    for (const dtype of ['q4_0', 'q8_0'] as const) {
      const matrix = uploadMatrix(ctx, randomBlocks(dtype, n * k, rand, 'quantized'), n, k, dtype, {
        activations: 'int8',
      });
      const product = (rows: Float32Array, count: number) => plainProduct(matrix, rows, count);
      const batch = await product(x, m);
      for (const t of [0, 4, 10]) {
        const alone = await product(x.slice(t * k, (t + 1) * k), 1);
        expect(Array.from(alone), `${dtype} token ${t}`).toEqual(
          Array.from(batch.subarray(t * n, (t + 1) * n)),
        );
      }
      matrix.destroy();
    }
  });

  it('keeps the several-token f32 group sums exact at their largest magnitudes (Q8_0: the same bits as one token)', async () => {
    // Every Q8_0 value -128 or 127 (levels 0 and 255) against x values that quantize to ±127:
    // group sums up to 255 · 127 · 32, the most the f32 sums of several tokens must hold exactly.
    const rand = seededRandom(seed + 3);
    const n = 18;
    const k = 128;
    const m = 13;
    const bytes = new Uint8Array((n * k * 34) / 32);
    const view = new DataView(bytes.buffer);
    for (let b = 0; b < (n * k) / 32; b++) {
      view.setUint16(b * 34, 0x2000 + Math.floor(rand() * 0x1000), true);
      for (let i = 0; i < 32; i++) bytes[b * 34 + 2 + i] = rand() < 0.5 ? 0x80 : 0x7f;
    }
    const x = new Float32Array(m * k).map(() => (rand() < 0.5 ? -1.5 : 1.5));
    const matrix = uploadMatrix(ctx, bytes, n, k, 'q8_0', { activations: 'int8' });
    const product = (rows: Float32Array, count: number) => plainProduct(matrix, rows, count);
    const batch = await product(x, m);
    const want = referenceProduct(dequantize('q8_0', bytes, n * k), n, k, x, m);
    expect(relativeL2(batch, want)).toBeLessThan(1e-6);
    for (let t = 0; t < m; t++) {
      const alone = await product(x.slice(t * k, (t + 1) * k), 1);
      expect(Array.from(alone), `token ${t}`).toEqual(Array.from(batch.subarray(t * n, (t + 1) * n)));
    }
    matrix.destroy();
  });

  it("takes rmsNorm's int8 output (x times the weight, the scale deferred) within int8 rounding of the f64 norm and product", async () => {
    const rand = seededRandom(seed + 4);
    const n = 24;
    const k = 64;
    const eps = 1e-5;
    for (const m of [1, 6]) {
      const bytes = randomBlocks('q4_0', n * k, rand, 'bytes');
      const matrix = uploadMatrix(ctx, bytes, n, k, 'q4_0', { activations: 'int8' });
      const x = randomFloats(rand, m * k, -2, 2);
      const weight = randomFloats(rand, k, 0.5, 1.5);
      const normed = ctx.createBuffer(m * k * 4, 'normed');
      const out = { xq: ctx.createBuffer(m * k * 4, 'xq'), xg: ctx.createBuffer((m * k * 8) / 32, 'xg'), sums: ctx.createBuffer((m * k * 4) / 32, 'sums') };
      const result = ctx.upload(poisonF32(m * n), 'out');
      const rec = ctx.recorder();
      rmsNorm(rec, { x: ctx.upload(x, 'x'), weight: ctx.upload(weight, 'w'), out: normed, rows: m, dim: k, eps, int8: out });
      linear(rec, { x: normed, int8X: { xq: out.xq, xg: out.xg, norm: { sums: out.sums, eps } }, w: matrix, out: result, m });
      rec.submit();
      const got = new Float32Array(await ctx.read(result, 0, m * n * 4));
      // f64: the norm, then the product over the codec's weights.
      const w = dequantize('q4_0', bytes, n * k);
      const want = new Float64Array(m * n);
      for (let t = 0; t < m; t++) {
        let ss = 0;
        for (let c = 0; c < k; c++) ss += x[t * k + c]! ** 2;
        const inv = 1 / Math.sqrt(ss / k + eps);
        for (let r = 0; r < n; r++) {
          let acc = 0;
          for (let c = 0; c < k; c++) acc += w[r * k + c]! * x[t * k + c]! * inv * weight[c]!;
          want[t * n + r] = acc;
        }
      }
      expect(got.every(Number.isFinite), `m ${m}`).toBe(true);
      expect(relativeL2(got, want), `m ${m}, seed ${seed + 4}`).toBeLessThan(2e-2);
      matrix.destroy();
    }
  });

  // A residual product writing the next norm's int8 input itself (1-2 tokens: Q4_0 in blocks of
  // 64 rows, Q8_0 of 32) and through rmsNorm after it (more tokens, Q4_0 rows not in blocks of
  // 64): the same bits as rmsNorm of its output, every row.
  it.each([
    { dtype: 'q4_0', m: 1, n: 128, fused: true },
    { dtype: 'q4_0', m: 2, n: 192, fused: true },
    { dtype: 'q4_0', m: 1, n: 96, fused: false },
    { dtype: 'q4_0', m: 3, n: 128, fused: false },
    { dtype: 'q8_0', m: 1, n: 96, fused: true },
    { dtype: 'q8_0', m: 2, n: 64, fused: true },
    { dtype: 'q8_0', m: 3, n: 32, fused: false },
  ] as const)("writes the next RMSNorm's int8 input as rmsNorm does: %o", async (c) => {
    const rand = seededRandom(seed + 9);
    const k = 96;
    const matrix = uploadMatrix(ctx, randomBlocks(c.dtype, c.n * k, rand, 'bytes'), c.n, k, c.dtype, { activations: 'int8' });
    const x = ctx.upload(randomFloats(rand, c.m * k, -2, 2), 'x');
    const residual = ctx.upload(randomFloats(rand, c.m * c.n, -4, 4), 'residual');
    const weight = ctx.upload(randomFloats(rand, c.n, 0.5, 1.5), 'norm weight');
    const buffers = () => ({
      out: ctx.upload(poisonF32(c.m * c.n), 'out'),
      xq: ctx.upload(new Int32Array(c.m * c.n).fill(-999), 'xq'),
      xg: ctx.upload(poisonF32((c.m * c.n) / 16), 'xg'),
      sums: ctx.upload(poisonF32((c.m * c.n) / 32), 'sums'),
    });
    const fused = buffers();
    const apart = buffers();
    const rec = ctx.recorder();
    linear(rec, { x, w: matrix, out: fused.out, m: c.m, residual, normOut: { weight, eps: 1e-5, out: fused } });
    linear(rec, { x, w: matrix, out: apart.out, m: c.m, residual });
    rmsNorm(rec, { x: apart.out, weight, out: ctx.createBuffer(c.m * c.n * 4, 'normed'), rows: c.m, dim: c.n, eps: 1e-5, int8: apart });
    expect(rec.dispatchLabels.filter((l) => l.startsWith('rms-norm'))).toHaveLength(c.fused ? 1 : 2);
    const reads = [fused, apart].flatMap((b) => [b.out, b.xq, b.xg, b.sums].map((buf) => rec.read(buf)));
    rec.submit();
    const words = (await Promise.all(reads)).map((b) => Array.from(new Uint32Array(b)));
    for (let i = 0; i < 4; i++) expect(words[i], `output ${i}, seed ${seed + 9}`).toEqual(words[i + 4]);
    expect(new Float32Array(Uint32Array.from(words[0]!).buffer).every(Number.isFinite)).toBe(true);
  });

  it('writes the glu output quantized as quantizeGroupsI8 does, from the Q4_0 product itself for 1-2 tokens', async () => {
    const rand = seededRandom(seed + 5);
    const k = 64;
    // Outputs of 64 and 96 values (2 and 3 groups), one part or several; 5 tokens take the
    // quantization dispatch of its own.
    const shapes = [
      { n: 128, maxPartBytes: undefined },
      { n: 192, maxPartBytes: 64 * 36 },
    ];
    for (const dtype of ['q4_0', 'q8_0'] as const) {
      for (const { n, maxPartBytes } of shapes) {
        for (const m of [1, 2, 5]) {
          const width = n / 2;
          const matrix = uploadMatrix(ctx, randomBlocks(dtype, n * k, rand, 'bytes'), n, k, dtype, {
            activations: 'int8',
            ...(maxPartBytes ? { maxPartBytes } : {}),
          });
          const x = ctx.upload(randomFloats(rand, m * k, -2, 2), 'x');
          const out = ctx.upload(poisonF32(m * width), 'out');
          const plain = ctx.upload(poisonF32(m * width), 'plain');
          const int8Out = {
            xq: ctx.upload(new Int32Array(m * width).fill(-999), 'hq'),
            xg: ctx.upload(poisonF32((m * width) / 16), 'hg'),
          };
          const rec = ctx.recorder();
          linear(rec, { x, w: matrix, out, m, glu: true, int8Out });
          linear(rec, { x, w: matrix, out: plain, m, glu: true });
          // Each product quantizes x; the output is quantized apart for 5 tokens and for Q8_0.
          const quantizing = rec.dispatchLabels.filter((l) => l.startsWith('quantize-groups')).length;
          if (maxPartBytes === undefined) expect(quantizing).toBe(m <= 2 && dtype === 'q4_0' ? 2 : 3);
          rec.submit();
          const what = `${dtype} n ${n} m ${m}, seed ${seed}`;
          const got = new Float32Array(await ctx.read(out, 0, m * width * 4));
          // The float output is the product's without int8Out, bit for bit.
          expect(Array.from(got), what).toEqual(Array.from(new Float32Array(await ctx.read(plain, 0, m * width * 4))));
          const { q, scales, sums } = quantizeGroupsI8(got, m, width);
          expect(Array.from(new Int32Array(await ctx.read(int8Out.xq, 0, m * width * 4))), what).toEqual(Array.from(q));
          const groups = new Float32Array(await ctx.read(int8Out.xg, 0, (m * width * 8) / 32));
          expect(Array.from(groups.filter((_, i) => i % 2 === 0)), what).toEqual(Array.from(scales));
          expect(Array.from(groups.filter((_, i) => i % 2 === 1)), what).toEqual(Array.from(sums));
          matrix.destroy();
        }
      }
    }
  });

  // The Q|K|V product with rope in its stores against the same product followed by `rope` with
  // kvWrite: rotated Q and K|V rows and the pool (an f32 and an f16 one, a token whose slot is
  // skipped, Llama 3 factors and linear scaling in one case), every output poisoned first.
  it.each([
    { dtype: 'q4_0', m: 1, heads: [4, 2], headDim: 64, kvDtype: 'f32', factors: false },
    { dtype: 'q4_0', m: 2, heads: [4, 2], headDim: 64, kvDtype: 'f16', factors: true },
    { dtype: 'q8_0', m: 5, heads: [2, 1], headDim: 32, kvDtype: 'f32', factors: false },
    { dtype: 'q4_0', m: 11, heads: [6, 6], headDim: 32, kvDtype: 'f16', factors: false },
  ] as const)('rotates Q and K and writes the pool in its stores as rope after it does: %o', async (c) => {
    const rand = seededRandom(seed + 7);
    const [numHeads, numKvHeads] = c.heads;
    const qLen = numHeads * c.headDim;
    const kLen = numKvHeads * c.headDim;
    const n = qLen + 2 * kLen;
    const k = 128;
    const bytes = randomBlocks(c.dtype, n * k, rand, 'bytes');
    const pairs = uploadMatrix(ctx, bytes, n, k, c.dtype, { activations: 'int8' });
    const plain = uploadMatrix(ctx, bytes, n, k, c.dtype);
    const x = ctx.upload(randomFloats(rand, c.m * k, -2, 2), 'x');
    const blockSize = 4;
    const numBlocks = c.m + 3;
    // Token 1 (when there is one) skips the pool.
    const slots = Uint32Array.from({ length: c.m }, (_, t) => (t === 1 ? 0xffffffff : (t * 5 + 2) % (numBlocks * blockSize)));
    const positions = Uint32Array.from({ length: c.m }, (_, t) => 3 + 97 * t);
    const rowWords = (c.kvDtype === 'f16' ? 0.5 : 1) * numBlocks * numKvHeads * blockSize * c.headDim;
    const factors = c.factors ? randomFloats(rand, c.headDim / 2, 1, 8) : undefined;
    const run = async (fused: boolean) => {
      const out = ctx.upload(poisonF32(c.m * qLen), 'q');
      const out2 = ctx.upload(poisonF32(c.m * 2 * kLen), 'kv');
      const kCache = ctx.upload(poisonF32(rowWords), 'k cache');
      const vCache = ctx.upload(poisonF32(rowWords), 'v cache');
      const rope = {
        positions: ctx.upload(positions, 'positions'),
        numHeads,
        numKvHeads,
        headDim: c.headDim,
        theta: 10000,
        layout: 'adjacent' as const,
        ...(factors ? { freqFactors: ctx.upload(factors, 'factors'), positionScale: 0.25 } : {}),
        kvWrite: { slots: ctx.upload(slots, 'slots'), kCache, vCache, numBlocks, blockSize, kvDtype: c.kvDtype },
      };
      const rec = ctx.recorder();
      linear(rec, { x, w: fused ? pairs : plain, out, m: c.m, split: { at: qLen, out: out2 }, rope });
      const reads = [out, out2, kCache, vCache].map((b) => rec.read(b));
      rec.submit();
      const [q, kv, kc, vc] = (await Promise.all(reads)).map((b) => new Float32Array(b));
      return { q: q!, kv: kv!, kc: kc!, vc: vc! };
    };
    const { q, kv, kc, vc } = await run(true);
    // The same product without rope (the pairs matrix, its bits), then rope with kvWrite.
    const wantOut = ctx.upload(poisonF32(c.m * qLen), 'q');
    const wantKv = ctx.upload(poisonF32(c.m * 2 * kLen), 'kv');
    const wantK = ctx.upload(poisonF32(rowWords), 'k cache');
    const wantV = ctx.upload(poisonF32(rowWords), 'v cache');
    const rec = ctx.recorder();
    linear(rec, { x, w: pairs, out: wantOut, m: c.m, split: { at: qLen, out: wantKv } });
    ropeKernel(rec, {
      q: wantOut,
      k: wantKv,
      kStride: 2 * kLen,
      positions: ctx.upload(positions, 'positions'),
      tokens: c.m,
      numHeads,
      numKvHeads,
      headDim: c.headDim,
      theta: 10000,
      layout: 'adjacent',
      ...(factors ? { freqFactors: ctx.upload(factors, 'factors'), positionScale: 0.25 } : {}),
      kvWrite: { v: wantKv, vStride: 2 * kLen, vOffset: kLen, slots: ctx.upload(slots, 'slots'), kCache: wantK, vCache: wantV, numBlocks, blockSize, kvDtype: c.kvDtype },
    });
    const reads = [wantOut, wantKv, wantK, wantV].map((b) => rec.read(b));
    rec.submit();
    const [wq, wkv, wk, wv] = (await Promise.all(reads)).map((b) => new Float32Array(b));
    expect(q.findIndex((v) => Number.isNaN(v))).toBe(-1);
    expect(kv.findIndex((v) => Number.isNaN(v))).toBe(-1);
    expect(relativeL2(q, wq!), `seed ${seed + 7}`).toBeLessThan(1e-6);
    expect(relativeL2(kv, wkv!)).toBeLessThan(1e-6);
    // The pool: the same slots written (NaN where rope writes nothing), values as close.
    const written = (a: Float32Array) => Array.from(a, (v) => !Number.isNaN(v));
    expect(written(kc)).toEqual(written(wk!));
    expect(written(vc)).toEqual(written(wv!));
    const finite = (a: Float32Array) => a.map((v) => (Number.isNaN(v) ? 0 : v));
    expect(relativeL2(finite(kc), finite(wk!))).toBeLessThan(1e-6);
    expect(relativeL2(finite(vc), finite(wv!))).toBeLessThan(1e-6);
    // Over weights without int8 activations, rope runs after the product: the same outputs.
    const float = await run(false);
    expect(relativeL2(float.q, wq!)).toBeLessThan(3e-2);
  });

  it('refuses rope without a Q|K|V split at numHeads x headDim', () => {
    const w = uploadMatrix(ctx, randomBlocks('q4_0', 256 * 64, seededRandom(3), 'bytes'), 256, 64, 'q4_0', { activations: 'int8' });
    const b = ctx.createBuffer(256 * 4 * 2, 'b');
    const rope = {
      positions: b,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 64,
      theta: 10000,
      layout: 'adjacent' as const,
      kvWrite: { slots: b, kCache: ctx.createBuffer(4096, 'k'), vCache: ctx.createBuffer(4096, 'v'), numBlocks: 1, blockSize: 4 },
    };
    expect(() => linear(ctx.recorder(), { x: b, w, out: ctx.createBuffer(1024, 'o'), m: 1, rope })).toThrow(KernelShapeError);
    expect(() =>
      linear(ctx.recorder(), { x: b, w, out: ctx.createBuffer(1024, 'o'), m: 1, split: { at: 64, out: ctx.createBuffer(1024, 'o2') }, rope }),
    ).toThrow(/split at 128/);
  });

  it('refuses other types, and readers other than linear, with a typed error', () => {
    const rand = seededRandom(seed + 3);
    expect(() =>
      uploadMatrix(ctx, randomBlocks('q4_1', 4 * 32, rand, 'quantized'), 4, 32, 'q4_1', {
        activations: 'int8',
      }),
    ).toThrow(KernelShapeError);
    const matrix = uploadMatrix(ctx, randomBlocks('q4_0', 4 * 32, rand, 'quantized'), 4, 32, 'q4_0', {
      activations: 'int8',
    });
    const rec = ctx.recorder();
    const ids = ctx.upload(new Uint32Array([1]), 'ids');
    expect(() =>
      embedding(rec, { ids, table: matrix, out: ctx.createBuffer(32 * 4, 'out'), count: 1 }),
    ).toThrow(KernelShapeError);
    expect(() =>
      linear(rec, {
        x: ctx.upload(new Float32Array(32), 'x'),
        w: matrix,
        out: ctx.createBuffer(16, 'o'),
        m: 1,
        kernel: 'tile',
      }),
    ).toThrow(KernelShapeError);
    const int8Out = { xq: ctx.createBuffer(64, 'hq'), xg: ctx.createBuffer(16, 'hg') };
    expect(() =>
      linear(rec, { x: ctx.upload(new Float32Array(32), 'x'), w: matrix, out: ctx.createBuffer(16, 'o'), m: 1, int8Out }),
    ).toThrow(/int8Out comes with the glu epilogue only/);
    matrix.destroy();
  });
});
