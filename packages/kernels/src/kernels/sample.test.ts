import { describe, expect, it } from 'vitest';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonU32, randomFloats, seededRandom } from '../testing/index.js';
import { packSamplingParams, sample } from './sample.js';
import type { SamplingRowParams } from './sample.js';

const gpu = await gpuForTests();

async function runSample(
  logits: Float32Array,
  rows: number,
  vocab: number,
  params: SamplingRowParams[],
): Promise<Uint32Array> {
  const ctx = gpu!;
  const out = ctx.upload(poisonU32(rows), 'out');
  const rec = ctx.recorder();
  sample(rec, {
    logits: ctx.upload(logits, 'logits'),
    params: ctx.upload(packSamplingParams(params), 'params'),
    out,
    rows,
    vocab,
  });
  rec.submit();
  return new Uint32Array(await ctx.read(out, 0, rows * 4));
}

/** The same logits row repeated `rows` times. */
function repeatRow(row: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(rows * row.length);
  for (let r = 0; r < rows; r++) out.set(row, r * row.length);
  return out;
}

describe.skipIf(!gpu)('sample', () => {
  const seed = Date.now() % 1e6;
  const vocab = 1003;
  const rows = 128;

  // Vocabularies below and above the kernel's 1024 candidates: with more kept tokens than that,
  // top-p bounds its set by exponents or, when that set is still too large ('flat': logits
  // within +-0.08), bisects over the whole vocabulary. 'ties': logits on a grid of 1/8, so the
  // top-k threshold falls inside runs of equal keys.
  it.each<[number, 'spread' | 'ties' | 'flat', Omit<SamplingRowParams, 'u'>]>([
    [vocab, 'spread', { temperature: 0.7, topP: 1, topK: 0, minP: 0 }],
    [vocab, 'spread', { temperature: 1.3, topP: 1, topK: 40, minP: 0 }],
    [vocab, 'spread', { temperature: 1, topP: 0.9, topK: 0, minP: 0 }],
    [vocab, 'spread', { temperature: 0.8, topP: 1, topK: 0, minP: 0.05 }],
    [vocab, 'spread', { temperature: 1, topP: 0.8, topK: 50, minP: 0.02 }],
    [vocab, 'spread', { temperature: 0.5, topP: 0.5, topK: 1000, minP: 0 }],
    [5003, 'spread', { temperature: 1, topP: 0.9, topK: 0, minP: 0 }],
    [5003, 'spread', { temperature: 0.3, topP: 0.9, topK: 0, minP: 0 }],
    [5003, 'spread', { temperature: 1.1, topP: 0.8, topK: 2000, minP: 0 }],
    [5003, 'spread', { temperature: 0.8, topP: 0.95, topK: 40, minP: 0.05 }],
    [5003, 'ties', { temperature: 1, topP: 1, topK: 700, minP: 0 }],
    [5003, 'ties', { temperature: 1, topP: 0.9, topK: 1500, minP: 0 }],
    [5003, 'flat', { temperature: 1, topP: 0.9, topK: 0, minP: 0 }],
    [5003, 'flat', { temperature: 1, topP: 0.5, topK: 3000, minP: 0 }],
  ])(
    'picks the same token as the reference for evenly spaced u: vocab %i, %s logits, %o',
    async (vocab, kind, p) => {
      const rand = seededRandom(seed);
      const row = randomFloats(rand, vocab, -4, 4);
      if (kind === 'ties') row.forEach((x, i) => (row[i] = Math.round(x * 8) / 8));
      if (kind === 'flat') row.forEach((x, i) => (row[i] = x * 0.02));
      const params = Array.from({ length: rows }, (_, i) => ({ ...p, u: (i + 0.5) / rows }));
      const got = await runSample(repeatRow(row, rows), rows, vocab, params);
      const counts = new Map<number, number>();
      for (let i = 0; i < rows; i++) {
        const trace = reference.sampleRow(row, params[i]!);
        const tok = got[i]!;
        counts.set(tok, (counts.get(tok) ?? 0) + 1);
        if (tok === trace.token) continue;
        // Only a u whose target lies on a boundary of the cumulative mass may round differently.
        let before = 0;
        for (let j = 0; j < tok; j++) before += trace.kept[j]!;
        const after = before + trace.kept[tok]!;
        const eps = 1e-5 * trace.total;
        expect(
          trace.kept[tok],
          `seed ${seed}: row ${i} token ${tok} was filtered out by the reference`,
        ).toBeGreaterThan(0);
        expect(
          trace.target >= before - eps && trace.target <= after + eps,
          `seed ${seed}: row ${i} GPU ${tok}, reference ${trace.token}`,
        ).toBe(true);
      }
      // Evenly spaced u over an inverse CDF: each token is drawn p_i * rows times, give or take one.
      const trace = reference.sampleRow(row, { ...p, u: 0 });
      for (let j = 0; j < vocab; j++) {
        const expected = (trace.kept[j]! / trace.total) * rows;
        expect(Math.abs((counts.get(j) ?? 0) - expected), `seed ${seed}: token ${j}`).toBeLessThanOrEqual(
          1.01,
        );
      }
    },
  );

  it('is greedy at temperature 0 or top-k 1, and never picks NaN logits', async () => {
    const rand = seededRandom(seed + 1);
    const logits = randomFloats(rand, 4 * vocab, -4, 4);
    logits[17] = 9;
    logits[vocab + 33] = 9;
    logits[vocab + 34] = 9;
    logits.fill(Number.NaN, 2 * vocab, 3 * vocab);
    logits[3 * vocab + 5] = Number.NaN;
    logits[3 * vocab + 6] = 50;
    const params: SamplingRowParams[] = [
      { temperature: 0, topP: 1, topK: 0, minP: 0, u: 0.9 },
      { temperature: 1, topP: 1, topK: 1, minP: 0, u: 0.9 },
      { temperature: 1, topP: 1, topK: 0, minP: 0, u: 0.5 },
      { temperature: 1, topP: 1, topK: 0, minP: 0, u: 0.5 },
    ];
    const got = await runSample(logits, 4, vocab, params);
    expect([...got]).toEqual([17, 33, 0, 6]);
    expect([...reference.sample(logits, 4, vocab, params)]).toEqual([17, 33, 0, 6]);
  });

  // A step mixes greedy and sampled rows: a greedy row must get argmax's token either way.
  it('returns exactly the argmax token on greedy rows beside sampled ones, ties and NaN included', async () => {
    const rand = seededRandom(seed + 2);
    const rows = 8;
    const logits = randomFloats(rand, rows * vocab, -4, 4);
    logits[3] = logits[900] = 7; // a tie: the lower index
    logits[vocab + 40] = Number.NaN; // NaN ranks above every number, +inf included
    logits[vocab + 10] = Number.POSITIVE_INFINITY;
    logits.fill(Number.NaN, 2 * vocab, 3 * vocab);
    logits.fill(0, 3 * vocab, 4 * vocab);
    logits[3 * vocab + 8] = -0; // -0 and +0 tie: the lower index
    logits.fill(-3, 3 * vocab, 3 * vocab + 8);
    logits[4 * vocab + 100] = Number.NaN; // never sampled
    const sampled = { temperature: 0.9, topP: 0.95, topK: 0, minP: 0, u: 0.4 };
    const greedy = { ...sampled, temperature: 0 };
    const topOne = { ...sampled, topK: 1 };
    const params = [greedy, topOne, greedy, greedy, sampled, greedy, sampled, topOne];
    const got = await runSample(logits, rows, vocab, params);
    const want = reference.argmax(logits, rows, vocab);
    expect([...want.subarray(0, 4)]).toEqual([3, 40, 0, 8]);
    params.forEach((p, r) => {
      if (p === sampled) {
        expect(Number.isNaN(logits[r * vocab + got[r]!]), `seed ${seed}: row ${r}`).toBe(false);
      } else {
        expect(got[r], `seed ${seed}: row ${r}`).toBe(want[r]);
        expect(reference.sampleRow(logits.subarray(r * vocab, (r + 1) * vocab), p).token).toBe(want[r]);
      }
    });
  });
});
