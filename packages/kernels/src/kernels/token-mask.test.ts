import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, randomFloats, seededRandom } from '../testing/index.js';
import { tokenMask, tokenMaskWords } from './token-mask.js';

const gpu = await gpuForTests();

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function randomMask(rand: () => number, vocab: number, density: number): Uint32Array {
  const mask = new Uint32Array(tokenMaskWords(vocab));
  for (let t = 0; t < vocab; t++) if (rand() < density) mask[t >> 5]! |= 1 << (t & 31);
  return mask;
}

describe.skipIf(!gpu)('tokenMask', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  async function run(logits: Float32Array, vocab: number, rows: number, masks: Uint32Array, maskRows: number[]) {
    const buffer = ctx.upload(logits, 'logits');
    const rec = ctx.recorder();
    tokenMask(rec, {
      logits: buffer,
      bitmask: ctx.upload(masks.length > 0 ? masks : new Uint32Array(1), 'bitmask'),
      maskRows: ctx.upload(Uint32Array.from(maskRows.length > 0 ? maskRows : [0]), 'maskRows'),
      masks: maskRows.length,
      rows,
      vocab,
    });
    rec.submit();
    return new Float32Array(await ctx.read(buffer, 0, logits.byteLength));
  }

  it.each([1, 31, 32, 33, 512, 32000])(
    'bans exactly the disallowed tokens of masked rows at vocab %i, leaving other rows bitwise unchanged',
    async (vocab) => {
      const rand = seededRandom(seed + vocab);
      const rows = 5;
      const maskRows = [3, 0, 4];
      const masks = new Uint32Array(maskRows.length * tokenMaskWords(vocab));
      maskRows.forEach((_, m) => masks.set(randomMask(rand, vocab, [0.5, 0.02, 1][m]!), m * tokenMaskWords(vocab)));
      const logits = randomFloats(rand, rows * vocab, -8, 8);
      const got = await run(logits, vocab, rows, masks, maskRows);
      expect(bits(got), `seed ${seed}`).toEqual(bits(reference.applyTokenMask(logits.slice(), vocab, masks, maskRows)));
      for (const r of [1, 2]) expect(bits(got.subarray(r * vocab, (r + 1) * vocab))).toEqual(bits(logits.subarray(r * vocab, (r + 1) * vocab)));
    },
  );

  it('keeps an allowed token whose logit was already -Infinity or NaN as it was', async () => {
    const logits = new Float32Array([1, -Infinity, Number.NaN, 2]);
    const got = await run(logits, 4, 1, Uint32Array.of(0b1110), [0]);
    expect(bits(got)).toEqual(bits(new Float32Array([-Infinity, -Infinity, Number.NaN, 2])));
  });

  it('records nothing without masks and rejects more masks than rows', async () => {
    const logits = new Float32Array([1, 2, 3]);
    expect(bits(await run(logits, 3, 1, new Uint32Array(0), []))).toEqual(bits(logits));
    const rec = ctx.recorder();
    const buffer = ctx.upload(logits, 'logits');
    expect(() =>
      tokenMask(rec, { logits: buffer, bitmask: ctx.upload(new Uint32Array(2), 'b'), maskRows: ctx.upload(new Uint32Array(2), 'r'), masks: 2, rows: 1, vocab: 3 }),
    ).toThrow(KernelShapeError);
    rec.submit();
  });
});
