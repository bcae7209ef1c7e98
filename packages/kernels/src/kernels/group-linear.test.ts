import { describe, expect, it } from 'vitest';
import { dequantize, elementType, groupQuantParams } from '@llm/quant';
import * as reference from '../reference/index.js';
import { GROUP_DTYPES_READ, gpuForTests, poisonF32, randomBlocks, randomFloats, relativeL2, seededRandom } from '../testing/index.js';
import { linear } from './linear.js';
import { uploadMatrix } from './matrix.js';
import { runQuantizedLinear, type QuantizedCase } from './quantized-linear.test-support.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('linear over group-quantized integer weights read in place', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // Every type through the default kernels (stream for 1-2 tokens, tile for more on a CPU
  // adapter; reduce on a GPU); reduce and matmul forced for one group size per bit width. Odd row
  // counts, and K of one group and of several (with w2 and w3's last vec4 of levels part-filled).
  const cases: QuantizedCase[] = GROUP_DTYPES_READ.flatMap((dtype): QuantizedCase[] => {
    const { groupSize } = groupQuantParams(dtype);
    const forced: QuantizedCase[] =
      groupSize === 64
        ? [
            { dtype, m: 3, n: 7, blocks: 3, how: 'quantized', kernel: 'reduce' },
            { dtype, m: 11, n: 5, blocks: 1, how: 'bytes', kernel: 'matmul' },
          ]
        : [];
    return [
      { dtype, m: 1, n: 33, blocks: groupSize === 32 ? 3 : 2, how: 'bytes' },
      { dtype, m: 5, n: 7, blocks: 1, how: 'quantized' },
      ...forced,
    ];
  });
  it.each(cases)('matches the f64 reference on the codec-decoded weights: %o', async (c) => {
    const { got, want } = await runQuantizedLinear(ctx, c, seed);
    const err = relativeL2(got, want);
    expect(err, `seed ${seed}: relative L2 ${err}`).toBeLessThan(1e-5);
  });

  it('runs the fused SwiGLU epilogue on w4 and w3 gate/up pairs', async () => {
    // 16 outputs per token, as in the block types' test: over 3, one output's f32 rounding on a
    // 256-term sum (1.3e-5 of the three with some seeds) decided the relative L2 alone.
    for (const dtype of ['w4g128', 'w3g64'] as const) {
      for (const m of [1, 6]) {
        const { got, want } = await runQuantizedLinear(ctx, { dtype, m, n: 32, blocks: 2, how: 'quantized', glu: true }, seed + m);
        expect(relativeL2(got, want), `seed ${seed + m}, ${dtype}, m ${m}`).toBeLessThan(1e-5);
      }
    }
  });

  it('reads a matrix split into parts whose last w2/w3 vec4 of levels is part-filled', async () => {
    for (const dtype of ['w3g32', 'w2g32'] as const) {
      const rand = seededRandom(seed + 23);
      // K = 96: 3 groups of 32 per row; parts of 2 rows hold 6 groups (not whole runs of 4 for w3),
      // the last part of 1 row 3 groups (not whole pairs for w2).
      const [n, k, m] = [7, 96, 3];
      const bytes = randomBlocks(dtype, n * k, rand, 'bytes');
      const matrix = uploadMatrix(ctx, bytes, n, k, dtype, { maxPartBytes: 100 });
      expect(matrix.parts.length).toBeGreaterThan(2);
      const x = randomFloats(rand, m * k);
      const xb = ctx.upload(x, 'x');
      const out = ctx.upload(poisonF32(m * n), 'out');
      const rec = ctx.recorder();
      linear(rec, { x: xb, w: matrix, out, m });
      const read = rec.read(out, 0, m * n * 4);
      rec.submit();
      const got = new Float32Array(await read);
      const want = reference.linear({ x, w: dequantize(dtype, bytes, n * k), m, n, k });
      expect(relativeL2(got, want), dtype).toBeLessThan(1e-5);
      for (const b of [xb, out]) b.destroy();
      matrix.destroy();
    }
  });

  it('holds the levels at their bit width plus one word per checkpoint group on the GPU', () => {
    for (const dtype of GROUP_DTYPES_READ) {
      const { bits, groupSize } = groupQuantParams(dtype);
      const [n, k] = [6, 512];
      const matrix = uploadMatrix(ctx, randomBlocks(dtype, n * k, seededRandom(3), 'bytes'), n, k, dtype);
      expect(matrix.parts.map((p) => [p.buffer.size, p.scales?.size])).toEqual([[(n * k * bits) / 8, (n * k * 4) / groupSize]]);
      expect(matrix.byteLength).toBe(n * (k / groupSize) * elementType(dtype).bytesPerBlock);
      matrix.destroy();
    }
  });
});
