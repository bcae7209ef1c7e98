import { describe, expect, it } from 'vitest';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonU32, randomFloats, seededRandom } from '../testing/index.js';
import { argmax } from './argmax.js';

const gpu = await gpuForTests();

async function run(logits: Float32Array, rows: number, vocab: number): Promise<Uint32Array> {
  const ctx = gpu!;
  const out = ctx.upload(poisonU32(rows), 'out');
  const rec = ctx.recorder();
  argmax(rec, { logits: ctx.upload(logits, 'logits'), out, rows, vocab });
  rec.submit();
  return new Uint32Array(await ctx.read(out, 0, rows * 4));
}

describe.skipIf(!gpu)('argmax', () => {
  const seed = Date.now() % 1e6;

  it('finds the largest logit of each row for vocabularies of odd sizes', async () => {
    const rand = seededRandom(seed);
    for (const [rows, vocab] of [
      [1, 1],
      [3, 1001],
      [2, 32003],
    ] as const) {
      const logits = randomFloats(rand, rows * vocab, -20, 20);
      expect([...(await run(logits, rows, vocab))], `seed ${seed}`).toEqual([
        ...reference.argmax(logits, rows, vocab),
      ]);
    }
  });

  it('breaks ties toward the lowest index and ranks NaN above everything', async () => {
    const vocab = 700;
    const rows = 5;
    const logits = new Float32Array(rows * vocab).fill(-1);
    logits[0 * vocab + 650] = 3; // tie between 650 and 10: 10 wins
    logits[0 * vocab + 10] = 3;
    logits[1 * vocab + 300] = Number.POSITIVE_INFINITY;
    logits[1 * vocab + 500] = Number.NaN; // NaN beats +inf
    logits[1 * vocab + 600] = Number.NaN;
    logits[2 * vocab + 5] = -0; // -0 and +0 tie: the lower index wins
    logits[2 * vocab + 3] = 0;
    logits[3 * vocab + 699] = 5;
    logits.fill(Number.NEGATIVE_INFINITY, 4 * vocab, 5 * vocab); // all -inf: index 0
    const got = await run(logits, rows, vocab);
    expect([...got]).toEqual([10, 500, 3, 699, 0]);
    expect([...reference.argmax(logits, rows, vocab)]).toEqual([10, 500, 3, 699, 0]);
  });
});
