import { describe, expect, it } from 'vitest';
import * as reference from '../reference/index.js';
import { gpuForTests, poisonU32, randomFloats, seededRandom } from '../testing/index.js';
import { argmax } from './argmax.js';
import { logitsProcessors } from './logits-processors.js';
import { packLogitsProcessors } from './pack-logits-processors.js';
import type { RowLogitsProcessors } from './pack-logits-processors.js';
import { packSamplingParams, sample } from './sample.js';
import type { SamplingRowParams } from './sample.js';
import { readTopLogprobs, topLogprobs, topLogprobsBytes } from './top-logprobs.js';

const gpu = await gpuForTests();

interface StepResult {
  processed: Float32Array;
  tokens: Uint32Array;
  logprobs: Uint32Array;
}

/**
 * One step as the engine records it: copy the raw logits aside, apply the processors in place,
 * sample, then the chosen token's logprob and the top n from the raw copy.
 */
async function runStep(
  logits: Float32Array,
  vocab: number,
  processors: readonly RowLogitsProcessors[],
  sampling: readonly SamplingRowParams[],
  n: number,
): Promise<StepResult> {
  const ctx = gpu!;
  const rows = processors.length;
  const packed = packLogitsProcessors(processors, vocab);
  const live = ctx.upload(logits, 'logits');
  const raw = ctx.createBuffer(logits.byteLength, 'raw logits');
  const tokens = ctx.upload(poisonU32(rows), 'tokens');
  const out = ctx.upload(poisonU32(topLogprobsBytes(rows, n) / 4), 'logprobs');
  const rec = ctx.recorder();
  rec.copy(live, 0, raw, 0, logits.byteLength);
  logitsProcessors(rec, {
    logits: live,
    rowParams: ctx.upload(packed.rowParams, 'rowParams'),
    entries: ctx.upload(packed.entries, 'entries'),
    entryCount: packed.entryCount,
    rows,
    vocab,
  });
  sample(rec, {
    logits: live,
    params: ctx.upload(packSamplingParams(sampling), 'params'),
    out: tokens,
    rows,
    vocab,
  });
  topLogprobs(rec, { logits: raw, chosen: tokens, out, rows, vocab, n });
  const reads = [rec.read(live), rec.read(tokens, 0, rows * 4), rec.read(out, 0, topLogprobsBytes(rows, n))];
  rec.submit();
  const [processed, tokenBytes, logprobBytes] = await Promise.all(reads);
  return {
    processed: new Float32Array(processed!, 0, logits.length),
    tokens: new Uint32Array(tokenBytes!),
    logprobs: new Uint32Array(logprobBytes!),
  };
}

function closeLogprob(got: number, want: number): boolean {
  if (!Number.isFinite(want)) return Object.is(got, want);
  return Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want));
}

function bannedIds(p: RowLogitsProcessors): Set<number> {
  const bias =
    p.logitBias instanceof Map
      ? [...p.logitBias]
      : Object.entries(p.logitBias ?? {}).map(([k, v]) => [Number(k), v]);
  return new Set(bias.filter(([, v]) => v === -Infinity).map(([k]) => k!));
}

describe.skipIf(!gpu)('sampling with logits processors and logprobs', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it("returns the sampled token's raw logprob and the raw top n in the step that samples it", async () => {
    const rand = seededRandom(seed);
    const vocab = 32000;
    const rows = 5;
    const logits = randomFloats(rand, rows * vocab, -6, 6);
    const processors: RowLogitsProcessors[] = Array.from({ length: rows }, (_, r) => ({
      repetitionPenalty: 1.3,
      frequencyPenalty: 0.4,
      promptTokens: [1, 2, 3, r * 7],
      outputTokens: [5, 5, 9],
      // The raw top token of the row is banned, so the raw and processed top differ.
      logitBias: new Map([
        [reference.argmax(logits.subarray(r * vocab, (r + 1) * vocab), 1, vocab)[0]!, -Infinity],
      ]),
    }));
    processors[3] = {};
    const sampling: SamplingRowParams[] = Array.from({ length: rows }, (_, r) => ({
      temperature: r === 0 ? 0 : 1,
      topP: 0.95,
      topK: 50,
      minP: 0,
      u: rand(),
    }));
    const n = 5;
    const got = await runStep(logits, vocab, processors, sampling, n);

    const processed = reference.applyLogitsProcessors(logits.slice(), vocab, processors);
    expect(new Uint32Array(got.processed.buffer)).toEqual(new Uint32Array(processed.buffer));
    const decoded = readTopLogprobs(got.logprobs, rows, n);
    const want = reference.topLogprobs(logits, rows, vocab, got.tokens, n);
    for (let r = 0; r < rows; r++) {
      const token = got.tokens[r]!;
      const trace = reference.sampleRow(processed.subarray(r * vocab, (r + 1) * vocab), sampling[r]!);
      expect(trace.kept[token], `seed ${seed} row ${r}: token ${token} was not kept`).toBeGreaterThan(0);
      expect(bannedIds(processors[r]!).has(token)).toBe(false);
      const row = decoded[r]!;
      expect(row.tokenId).toBe(token);
      expect(closeLogprob(row.logprob, want[r]!.logprob), `seed ${seed} row ${r}`).toBe(true);
      // The raw top token leads the list although it was banned from sampling.
      expect(row.top.map((t) => t.tokenId)).toEqual(want[r]!.top.map((t) => t.tokenId));
      row.top.forEach((t, i) => expect(closeLogprob(t.logprob, want[r]!.top[i]!.logprob)).toBe(true));
    }
    expect(got.tokens[0]).toBe(reference.argmax(processed.subarray(0, vocab), 1, vocab)[0]);
  });

  it('gives a row the same bits alone as in a batch of five with other settings', async () => {
    const rand = seededRandom(seed + 1);
    const vocab = 4099;
    const n = 20;
    const mine: RowLogitsProcessors = {
      repetitionPenalty: 1.2,
      presencePenalty: 0.5,
      frequencyPenalty: 0.3,
      promptTokens: [7, 8, 9, 4000],
      outputTokens: [7, 11, 11, 12],
      logitBias: { 12: -Infinity, 13: 2.5 },
    };
    const mySampling: SamplingRowParams = { temperature: 0.8, topP: 0.9, topK: 40, minP: 0.01, u: 0.37 };
    const row = randomFloats(rand, vocab, -5, 5);
    const others: RowLogitsProcessors[] = [
      { repetitionPenalty: 2, promptTokens: [7, 8, 100] },
      {},
      { logitBias: { 0: -Infinity, 9: 40 } },
      { frequencyPenalty: -1, outputTokens: [3, 3, 3, 12] },
    ];
    const otherSampling: SamplingRowParams[] = [
      { temperature: 0, topP: 1, topK: 0, minP: 0, u: 0.1 },
      { temperature: 1.5, topP: 1, topK: 0, minP: 0, u: 0.9 },
      { temperature: 1, topP: 0.5, topK: 2, minP: 0, u: 0.5 },
      { temperature: 0.3, topP: 1, topK: 0, minP: 0.2, u: 0.99 },
    ];
    const alone = await runStep(row, vocab, [mine], [mySampling], n);
    const batch = new Float32Array(5 * vocab);
    for (let r = 0; r < 5; r++) batch.set(r === 2 ? row : randomFloats(rand, vocab, -5, 5), r * vocab);
    const inBatch = await runStep(
      batch,
      vocab,
      [others[0]!, others[1]!, mine, others[2]!, others[3]!],
      [otherSampling[0]!, otherSampling[1]!, mySampling, otherSampling[2]!, otherSampling[3]!],
      n,
    );
    const pairs = (1 + n) * 2;
    expect(new Uint32Array(inBatch.processed.buffer, 2 * vocab * 4, vocab)).toEqual(
      new Uint32Array(alone.processed.buffer, 0, vocab),
    );
    expect(inBatch.tokens[2]).toBe(alone.tokens[0]);
    expect(inBatch.logprobs.subarray(2 * pairs, 3 * pairs)).toEqual(alone.logprobs.subarray(0, pairs));
  });

  it('never samples a banned token, whatever the temperature, top-k, top-p, min-p and u', async () => {
    const rand = seededRandom(seed + 2);
    const vocab = 1003;
    const rows = 128;
    const row = randomFloats(rand, vocab, -4, 4);
    // Ban the ten most likely tokens and a random fifty.
    const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => row[b]! - row[a]!);
    const bans = new Set([
      ...order.slice(0, 10),
      ...Array.from({ length: 50 }, () => Math.floor(rand() * vocab)),
    ]);
    const processors: RowLogitsProcessors = { logitBias: new Map([...bans].map((id) => [id, -Infinity])) };
    // Ban all but one token: that one must come out every time.
    const survivor = order[500]!;
    const allButOne: RowLogitsProcessors = {
      logitBias: new Map(order.filter((id) => id !== survivor).map((id) => [id, -Infinity])),
    };
    const logits = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) logits.set(row, r * vocab);
    const settings: Omit<SamplingRowParams, 'u'>[] = [
      { temperature: 0, topP: 1, topK: 0, minP: 0 },
      { temperature: 1, topP: 1, topK: 1, minP: 0 },
      { temperature: 0.7, topP: 1, topK: 0, minP: 0 },
      { temperature: 100, topP: 1, topK: 0, minP: 0 },
      { temperature: 1e-3, topP: 1, topK: 0, minP: 0 },
      { temperature: 1, topP: 1, topK: 5, minP: 0 },
      { temperature: 1, topP: 1, topK: 2000, minP: 0 },
      { temperature: 1, topP: 0.3, topK: 0, minP: 0 },
      { temperature: 2, topP: 0.999, topK: 100, minP: 0.05 },
      { temperature: 1, topP: 1, topK: 0, minP: 0.5 },
    ];
    for (const s of settings) {
      for (const [which, p] of [
        ['some', processors],
        ['all but one', allButOne],
      ] as const) {
        const sampling = Array.from({ length: rows }, (_, i) => ({
          ...s,
          u: i === rows - 1 ? 1 - 2 ** -24 : i / (rows - 1),
        }));
        const { tokens } = await runStep(
          logits,
          vocab,
          Array<RowLogitsProcessors>(rows).fill(p),
          sampling,
          0,
        );
        const banned = bannedIds(p);
        for (const t of tokens)
          expect(banned.has(t), `${JSON.stringify(s)}, ${which}: token ${t}`).toBe(false);
        if (which === 'all but one') expect(new Set(tokens)).toEqual(new Set([survivor]));
      }
    }
    // Greedy through argmax as well.
    const packed = packLogitsProcessors([allButOne, processors], vocab);
    const live = ctx.upload(logits.subarray(0, 2 * vocab), 'logits');
    const out = ctx.upload(poisonU32(2), 'out');
    const rec = ctx.recorder();
    logitsProcessors(rec, {
      logits: live,
      rowParams: ctx.upload(packed.rowParams, 'rowParams'),
      entries: ctx.upload(packed.entries, 'entries'),
      entryCount: packed.entryCount,
      rows: 2,
      vocab,
    });
    argmax(rec, { logits: live, out, rows: 2, vocab });
    rec.submit();
    const best = new Uint32Array(await ctx.read(out, 0, 8));
    expect(best[0]).toBe(survivor);
    expect(bans.has(best[1]!)).toBe(false);
  });
});
