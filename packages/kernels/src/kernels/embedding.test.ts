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

  it.each([
    { dtype: 'f32' as const, maxPartBytes: undefined },
    { dtype: 'f16' as const, maxPartBytes: undefined },
    { dtype: 'f32' as const, maxPartBytes: 4096 },
    { dtype: 'f16' as const, maxPartBytes: 2048 },
  ])(
    'looks up rows of a $dtype table (parts of at most $maxPartBytes bytes)',
    async ({ dtype, maxPartBytes }) => {
      const rand = seededRandom(seed);
      const vocab = 103;
      const dim = 37;
      let table = randomFloats(rand, vocab * dim);
      if (dtype === 'f16') table = f16ArrayToF32(f32ArrayToF16(table));
      const matrix = uploadMatrix(ctx, table, vocab, dim, dtype, maxPartBytes ? { maxPartBytes } : {});
      if (maxPartBytes) expect(matrix.parts.length).toBeGreaterThan(1);
      const ids = new Uint32Array([0, 102, 5, 5, 64, 999, 31]);
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
