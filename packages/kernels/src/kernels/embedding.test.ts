import { describe, expect, it } from 'vitest';
import { f16ArrayToF32, f32ArrayToF16 } from '@llm/quant';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, randomFloats, seededRandom } from '../testing/index.js';
import { embedding } from './embedding.js';
import { uploadMatrix } from './matrix.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('embedding', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  // The lanes layout (rows interleaved by the subgroup size) where the adapter has a fixed one;
  // vocab 103 leaves its last block of rows partial, dim 37 rows of units past the values.
  const lanes = gpu?.subgroupSize ? (['rows', 'lanes'] as const) : (['rows'] as const);
  it.each(
    lanes.flatMap((layout) => [
      { dtype: 'f32' as const, layout, dim: 37, maxPartBytes: undefined },
      { dtype: 'f16' as const, layout, dim: 37, maxPartBytes: undefined },
      { dtype: 'f32' as const, layout, dim: 64, maxPartBytes: 4096 },
      { dtype: 'f16' as const, layout, dim: 64, maxPartBytes: 2048 },
    ]),
  )(
    'looks up rows of a $dtype table, $layout layout, dim $dim (parts of at most $maxPartBytes bytes)',
    async ({ dtype, layout, dim, maxPartBytes }) => {
      const rand = seededRandom(seed);
      const vocab = 103;
      let table = randomFloats(rand, vocab * dim);
      if (dtype === 'f16') table = f16ArrayToF32(f32ArrayToF16(table));
      const matrix = uploadMatrix(ctx, table, vocab, dim, dtype, {
        layout,
        ...(maxPartBytes ? { maxPartBytes } : {}),
      });
      if (maxPartBytes) expect(matrix.parts.length).toBeGreaterThan(1);
      expect(matrix.parts.every((p) => (p.lanes ?? 0) === (layout === 'lanes' ? gpu!.subgroupSize : 0))).toBe(
        true,
      );
      const ids = new Uint32Array([0, 102, 5, 5, 64, 999, 31, 97]);
      const out = ctx.upload(poisonF32(ids.length * dim), 'out');
      const rec = ctx.recorder();
      embedding(rec, { ids: ctx.upload(ids, 'ids'), table: matrix, out, count: ids.length });
      rec.submit();
      const got = new Float32Array(await ctx.read(out, 0, ids.length * dim * 4));
      expect(got).toEqual(reference.embedding(table, ids, dim));
      matrix.destroy();
    },
  );
});
