import { describe, expect, it } from 'vitest';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonF32, randomFloats, seededRandom } from '../testing/index.js';
import { gatherColumns } from './gather-columns.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('gatherColumns', () => {
  it('puts every row of x in the column order given, exactly', async () => {
    const ctx = gpu!;
    const rand = seededRandom(Date.now() % 1e6);
    for (const [count, dim] of [
      [1, 64],
      [7, 333],
    ] as const) {
      const x = randomFloats(rand, count * dim);
      const order = Uint32Array.from({ length: dim }, (_, i) => i);
      for (let i = dim - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const xb = ctx.upload(x, 'x');
      const ob = ctx.upload(order, 'order');
      const out = ctx.upload(poisonF32(count * dim), 'out');
      const rec = ctx.recorder();
      gatherColumns(rec, { x: xb, order: ob, out, count, dim });
      const read = rec.read(out, 0, count * dim * 4);
      rec.submit();
      expect(Array.from(new Float32Array(await read))).toEqual(Array.from(reference.gatherColumns(x, order, dim)));
      for (const b of [xb, ob, out]) b.destroy();
    }
  });
});
