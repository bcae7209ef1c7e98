import { describe, expect, it } from 'vitest';
import { byteLengthOf, dequantize, elementType } from '@llm/quant';
import * as reference from '../reference/index.js';
import {
  BLOCK_DTYPES_READ,
  gpuForTests,
  poisonF32,
  randomBlocks,
  randomFloats,
  relativeL2,
  seededRandom,
} from '../testing/index.js';
import { embedding } from './embedding.js';
import { linear } from './linear.js';
import { concatMatrices, uploadMatrix, type GpuMatrix } from './matrix.js';
import { runQuantizedLinear, type QuantizedCase } from './quantized-linear.test-support.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('linear over block-quantized weights read in place', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // Per type: the default kernels (stream for 1-2 tokens and tile for more on a CPU adapter,
  // reduce on a GPU), and reduce and matmul forced; 1, 3, 7, 9 and 33 rows; K of one block and
  // of several. Each case is a shader compile on lavapipe, so they are few per type.
  const cases: QuantizedCase[] = BLOCK_DTYPES_READ.flatMap((dtype): QuantizedCase[] => [
    { dtype, m: 1, n: 33, blocks: 3, how: 'bytes' },
    { dtype, m: 2, n: 7, blocks: 1, how: 'quantized', residual: true },
    { dtype, m: 5, n: 3, blocks: 2, how: 'bytes' },
    { dtype, m: 3, n: 7, blocks: 1, how: 'quantized', kernel: 'reduce' },
    { dtype, m: 9, n: 1, blocks: 2, how: 'bytes', kernel: 'matmul' },
    // The tile kernel's token blocks of 16 in turn, the second partial.
    ...(dtype === 'q8_0' || dtype === 'q4_k' ? [{ dtype, m: 19, n: 9, blocks: 2, how: 'bytes' } as const] : []),
    // Q8_0 and Q4_0 rows of 256 or more elements (a multiple of 8 groups): row-major, the stream
    // kernel loads 8 groups' scales at once; with m = 3 it also takes two passes over the weights.
    // In the lanes layout (the CPU adapters' default) each group's scale on its own.
    ...(dtype === 'q8_0' || dtype === 'q4_0'
      ? ([
          { dtype, m: 1, n: 11, blocks: 16, how: 'bytes', layout: 'rows' },
          { dtype, m: 3, n: 5, blocks: 8, how: 'quantized', kernel: 'stream', residual: true, layout: 'rows' },
          { dtype, m: 1, n: 11, blocks: 16, how: 'bytes' },
          { dtype, m: 7, n: 13, blocks: 2, how: 'quantized', layout: 'rows' },
        ] as const)
      : []),
  ]);
  it.each(cases)('matches the f64 reference on the codec-decoded weights: %o', async (c) => {
    const { got, want } = await runQuantizedLinear(ctx, c, seed);
    const err = relativeL2(got, want);
    expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-5);
  });

  it('runs the fused SwiGLU epilogue on Q4_K and Q8_0 gate/up pairs', async () => {
    // 16 outputs per token: over 3, one output's f32 rounding on a 512-term sum (1.2e-5 of it
    // with some seeds) decided the relative L2 alone.
    for (const dtype of ['q4_k', 'q8_0'] as const) {
      for (const m of [1, 6]) {
        const { got, want } = await runQuantizedLinear(ctx, { dtype, m, n: 32, blocks: 2, how: 'quantized', glu: true }, seed + m);
        expect(relativeL2(got, want), `seed ${seed + m}, ${dtype}, m ${m}`).toBeLessThan(1e-5);
      }
    }
  });

  it('reads a matrix whose row parts differ in type (Q4_K | Q6_K | Q8_0) as one product with a split', async () => {
    const rand = seededRandom(seed + 11);
    const k = 512;
    const pieces = [
      { dtype: 'q4_k', rows: 5 },
      { dtype: 'q6_k', rows: 3 },
      { dtype: 'q8_0', rows: 4 },
    ] as const;
    const matrices: GpuMatrix[] = [];
    const w = new Float32Array(12 * k);
    let row = 0;
    for (const p of pieces) {
      const bytes = randomBlocks(p.dtype, p.rows * k, rand, 'quantized');
      w.set(dequantize(p.dtype, bytes, p.rows * k), row * k);
      matrices.push(uploadMatrix(ctx, bytes, p.rows, k, p.dtype));
      row += p.rows;
    }
    const matrix = concatMatrices(matrices, 'qkv');
    expect(matrix.dtype).toBe('mixed');
    expect(matrix.parts.map((p) => [p.dtype, p.rowStart, p.rows])).toEqual([
      ['q4_k', 0, 5],
      ['q6_k', 5, 3],
      ['q8_0', 8, 4],
    ]);
    for (const m of [1, 4]) {
      const x = randomFloats(rand, m * k);
      const xb = ctx.upload(x, 'x');
      const out = ctx.upload(poisonF32(m * 6), 'q');
      const out2 = ctx.upload(poisonF32(m * 6), 'kv');
      const rec = ctx.recorder();
      linear(rec, { x: xb, w: matrix, out, m, split: { at: 6, out: out2 } });
      const reads = [rec.read(out, 0, m * 24), rec.read(out2, 0, m * 24)];
      rec.submit();
      const [a, b] = (await Promise.all(reads)).map((r) => new Float32Array(r));
      const want = reference.linear({ x, w, m, n: 12, k });
      const got = new Float32Array(m * 12);
      for (let t = 0; t < m; t++) {
        got.set(a!.subarray(t * 6, t * 6 + 6), t * 12);
        got.set(b!.subarray(t * 6, t * 6 + 6), t * 12 + 6);
      }
      expect(relativeL2(got, want)).toBeLessThan(1e-5);
      for (const buf of [xb, out, out2]) buf.destroy();
    }
    matrix.destroy();
  });

  it('gives each token the same bits alone and in a batch (stream and tile share the order)', async () => {
    // Block types and the group-quantized integers of GPTQ-style checkpoints alike.
    for (const dtype of ['q4_0', 'q6_k', 'w3g128', 'w2g64'] as const) {
      const rand = seededRandom(seed + 5);
      const [n, k, m] = [9, 512, 5];
      const bytes = randomBlocks(dtype, n * k, rand, 'bytes');
      const matrix = uploadMatrix(ctx, bytes, n, k, dtype);
      const x = randomFloats(rand, m * k);
      const product = async (rows: Float32Array, count: number) => {
        const xb = ctx.upload(rows, 'x');
        const out = ctx.upload(poisonF32(count * n), 'out');
        const rec = ctx.recorder();
        linear(rec, { x: xb, w: matrix, out, m: count });
        const read = rec.read(out, 0, count * n * 4);
        rec.submit();
        const result = new Float32Array(await read);
        xb.destroy();
        out.destroy();
        return result;
      };
      const batch = await product(x, m);
      for (let t = 0; t < m; t++) {
        const alone = await product(x.slice(t * k, (t + 1) * k), 1);
        expect(Array.from(alone), `${dtype} token ${t}`).toEqual(Array.from(batch.subarray(t * n, (t + 1) * n)));
      }
      matrix.destroy();
    }
  });

  it('looks up rows of a quantized embedding table in place', async () => {
    for (const dtype of [...BLOCK_DTYPES_READ, 'w4g32', 'w3g64', 'w2g128'] as const) {
      const rand = seededRandom(seed + 17);
      const [vocab, dim] = [37, 2 * elementType(dtype).blockSize];
      const bytes = randomBlocks(dtype, vocab * dim, rand, 'bytes');
      // A few rows per part, so that the lookup crosses parts (row-major: fewer rows than a block
      // of the lanes layout); Q8_0 and Q4_0 also whole, in the CPU adapters' lanes layout.
      const tables = [uploadMatrix(ctx, bytes, vocab, dim, dtype, { maxPartBytes: 4 * byteLengthOf(elementType(dtype), dim) })];
      expect(tables[0]!.parts.length).toBeGreaterThan(1);
      if (dtype === 'q8_0' || dtype === 'q4_0') tables.push(uploadMatrix(ctx, bytes, vocab, dim, dtype));
      for (const table of tables) {
        const ids = Uint32Array.from([0, 36, 5, 17, 5]);
        const idsB = ctx.upload(ids, 'ids');
        const out = ctx.upload(poisonF32(ids.length * dim), 'out');
        const rec = ctx.recorder();
        embedding(rec, { ids: idsB, table, out, count: ids.length });
        const read = rec.read(out, 0, ids.length * dim * 4);
        rec.submit();
        const got = new Float32Array(await read);
        const want = reference.embedding(dequantize(dtype, bytes, vocab * dim), ids, dim);
        expect(Array.from(got), `${dtype}, lanes ${table.parts[0]!.lanes ?? 0}`).toEqual(Array.from(want));
        for (const b of [idsB, out]) b.destroy();
        table.destroy();
      }
    }
  });
});
