import { describe, expect, it } from 'vitest';
import { KernelShapeError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonU32, randomFloats, seededRandom } from '../testing/index.js';
import { NO_TOKEN, readTopLogprobs, topLogprobs, topLogprobsBytes } from './top-logprobs.js';
import type { TopLogprobsRow } from './top-logprobs.js';

const gpu = await gpuForTests();

async function runTopLogprobs(
  logits: Float32Array,
  rows: number,
  vocab: number,
  chosen: Uint32Array,
  n: number,
): Promise<{ words: Uint32Array; decoded: TopLogprobsRow[] }> {
  const ctx = gpu!;
  const out = ctx.upload(poisonU32(topLogprobsBytes(rows, n) / 4), 'out');
  const rec = ctx.recorder();
  topLogprobs(rec, {
    logits: ctx.upload(logits, 'logits'),
    chosen: ctx.upload(chosen, 'chosen'),
    out,
    rows,
    vocab,
    n,
  });
  rec.submit();
  const words = new Uint32Array(await ctx.read(out, 0, topLogprobsBytes(rows, n)));
  return { words, decoded: readTopLogprobs(words, rows, n) };
}

/** |got - want| within 1e-5 relative to max(1, |want|); NaN and infinities must match exactly. */
function closeLogprob(got: number, want: number): boolean {
  if (!Number.isFinite(want)) return Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want));
  return Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want));
}

function expectRows(got: TopLogprobsRow[], want: TopLogprobsRow[], context: string): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, r) => {
    const w = want[r]!;
    expect(g.tokenId, `${context} row ${r} chosen`).toBe(w.tokenId);
    expect(
      closeLogprob(g.logprob, w.logprob),
      `${context} row ${r} chosen ${g.logprob} vs ${w.logprob}`,
    ).toBe(true);
    expect(
      g.top.map((t) => t.tokenId),
      `${context} row ${r} top ids`,
    ).toEqual(w.top.map((t) => t.tokenId));
    g.top.forEach((t, i) => {
      const lp = w.top[i]!.logprob;
      expect(closeLogprob(t.logprob, lp), `${context} row ${r} top ${i}: ${t.logprob} vs ${lp}`).toBe(true);
    });
  });
}

describe.skipIf(!gpu)('topLogprobs', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it.each([1, 7, 32000, 151936])(
    'matches the f64 reference at vocab %i for n in 0, 1, 5, 20',
    async (vocab) => {
      const rand = seededRandom(seed + vocab);
      const rows = 3;
      const logits = randomFloats(rand, rows * vocab, -12, 12);
      // A peaked row, as a model's often are: its top logprob is close to 0.
      logits[Math.floor(rand() * vocab)] = 30;
      const chosen = Uint32Array.from({ length: rows }, () => Math.floor(rand() * vocab));
      for (const n of [0, 1, 5, 20]) {
        const { words, decoded } = await runTopLogprobs(logits, rows, vocab, chosen, n);
        const context = `seed ${seed} vocab ${vocab} n ${n}`;
        expectRows(decoded, reference.topLogprobs(logits, rows, vocab, chosen, n), context);
        for (const row of decoded) expect(row.top.length).toBe(Math.min(n, vocab));
        // Pairs past the vocabulary are padding, not poison.
        for (let r = 0; r < rows; r++) {
          for (let t = vocab + 1; t <= n; t++) {
            const at = (r * (1 + n) + t) * 2;
            expect([words[at], new Float32Array(words.buffer)[at + 1]]).toEqual([NO_TOKEN, -Infinity]);
          }
        }
      }
    },
  );

  it('ranks ties to the lower id, -0 with +0, -Infinity last among numbers and NaN below it', async () => {
    const logits = new Float32Array([
      ...[1, 3, 1, -Infinity, 3, 0, -0, Number.NaN, -Infinity, 2, 3],
      ...Array<number>(11).fill(-Infinity),
      ...[5, Number.NaN, 5, 5, 4, 5, 5, 5, 5, 5, 5],
    ]);
    const vocab = 11;
    const chosen = new Uint32Array([7, 4, 99]);
    const { decoded } = await runTopLogprobs(logits, 3, vocab, chosen, 20);
    expectRows(decoded, reference.topLogprobs(logits, 3, vocab, chosen, 20), 'ties');
    expect(decoded[0]!.top.map((t) => t.tokenId)).toEqual([1, 4, 10, 9, 0, 2, 5, 6, 3, 8, 7]);
    expect(decoded[0]!.top.slice(-3).map((t) => t.logprob)).toEqual([-Infinity, -Infinity, Number.NaN]);
    expect(Number.isNaN(decoded[0]!.logprob)).toBe(true);
    // No finite logit: NaN logprobs throughout.
    expect(decoded[1]!.top.every((t) => Number.isNaN(t.logprob))).toBe(true);
    expect(decoded[1]!.top.map((t) => t.tokenId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Nine tokens of equal logit 5, one of 4, a NaN: ln(1/(9 + e^-1)) each; chosen 99 is outside.
    expect(decoded[2]!.top.map((t) => t.tokenId)).toEqual([0, 2, 3, 5, 6, 7, 8, 9, 10, 4, 1]);
    expect(decoded[2]!.top[0]!.logprob).toBeCloseTo(-Math.log(9 + Math.exp(-1)), 6);
    expect([decoded[2]!.tokenId, decoded[2]!.logprob]).toEqual([99, Number.NaN]);
  });

  it('keeps ties in id order when one invocation sees several equal logits', async () => {
    const rand = seededRandom(seed + 2);
    const vocab = 5003;
    // Whole numbers in [-3, 3]: each value is held by hundreds of tokens, spread over every
    // invocation's stride; the last row is a single value throughout.
    const logits = Float32Array.from({ length: 3 * vocab }, (_, i) =>
      i < 2 * vocab ? Math.round(6 * rand() - 3) : 1,
    );
    const chosen = new Uint32Array([0, 1, vocab - 1]);
    const { decoded } = await runTopLogprobs(logits, 3, vocab, chosen, 20);
    expectRows(decoded, reference.topLogprobs(logits, 3, vocab, chosen, 20), `seed ${seed}`);
    expect(decoded[2]!.top.map((t) => t.tokenId)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('gives the chosen token the same logprob as the top list does', async () => {
    const rand = seededRandom(seed + 3);
    const vocab = 5003;
    const logits = randomFloats(rand, vocab, -5, 5);
    const best = reference.argmax(logits, 1, vocab);
    const { decoded } = await runTopLogprobs(logits, 1, vocab, best, 1);
    expect(decoded[0]!.tokenId).toBe(best[0]);
    expect(decoded[0]!.logprob).toBe(decoded[0]!.top[0]!.logprob);
  });

  it('rejects n above 20, bad buffers and an output that aliases an input', () => {
    const logits = ctx.createBuffer(4 * 40, 'logits');
    const chosen = ctx.createBuffer(16, 'chosen');
    const out = ctx.createBuffer(topLogprobsBytes(2, 5), 'out');
    const args = { logits, chosen, out, rows: 2, vocab: 5, n: 5 };
    expect(() => topLogprobs(ctx.recorder(), args)).not.toThrow();
    expect(() => topLogprobs(ctx.recorder(), { ...args, n: 21 })).toThrow(
      /n must be an integer in \[0, 20\]/,
    );
    expect(() => topLogprobs(ctx.recorder(), { ...args, n: -1 })).toThrow(KernelShapeError);
    expect(() => topLogprobs(ctx.recorder(), { ...args, n: 6 })).toThrow(/out holds/);
    expect(() => topLogprobs(ctx.recorder(), { ...args, vocab: 21 })).toThrow(/logits holds/);
    expect(() => topLogprobs(ctx.recorder(), { ...args, rows: 5, n: 0 })).toThrow(/chosen holds/);
    expect(() => topLogprobs(ctx.recorder(), { ...args, out: logits, n: 0 })).toThrow(KernelShapeError);
    expect(() => readTopLogprobs(new Uint32Array(23), 2, 5)).toThrow(KernelShapeError);
  });
});
