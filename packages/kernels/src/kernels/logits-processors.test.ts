import { describe, expect, it } from 'vitest';
import { KernelShapeError, LogitsProcessorError } from '../runtime/errors.js';
import * as reference from '../reference/index.js';
import { gpuForTests, randomFloats, seededRandom } from '../testing/index.js';
import { logitsProcessors } from './logits-processors.js';
import { LogitsProcessorFlag, packLogitsProcessors } from './pack-logits-processors.js';
import type { RowLogitsProcessors } from './pack-logits-processors.js';

const gpu = await gpuForTests();

async function runProcessors(
  logits: Float32Array,
  vocab: number,
  rows: readonly RowLogitsProcessors[],
): Promise<Float32Array> {
  const ctx = gpu!;
  const packed = packLogitsProcessors(rows, vocab);
  const buffer = ctx.upload(logits, 'logits');
  const rec = ctx.recorder();
  logitsProcessors(rec, {
    logits: buffer,
    rowParams: ctx.upload(packed.rowParams, 'rowParams'),
    entries: ctx.upload(packed.entries, 'entries'),
    entryCount: packed.entryCount,
    rows: rows.length,
    vocab,
  });
  rec.submit();
  return new Float32Array(await ctx.read(buffer, 0, logits.byteLength));
}

function randomIds(rand: () => number, count: number, vocab: number): number[] {
  return Array.from({ length: count }, () => Math.floor(rand() * vocab));
}

/** Random settings for one row; `which` picks the processors that are on. */
function randomRow(
  rand: () => number,
  vocab: number,
  which: ReadonlySet<'repetition' | 'presence' | 'frequency' | 'bias' | 'ban'>,
): RowLogitsProcessors {
  // Few distinct ids in the output so that counts above 1 occur, overlapping the prompt's.
  const outputPool = randomIds(rand, 9, vocab);
  const row: RowLogitsProcessors = {
    promptTokens: randomIds(rand, 40, vocab),
    outputTokens: Array.from({ length: 25 }, () => outputPool[Math.floor(rand() * outputPool.length)]!),
  };
  if (which.has('repetition')) row.repetitionPenalty = 0.5 + 1.5 * rand();
  if (which.has('presence')) row.presencePenalty = -2 + 4 * rand();
  if (which.has('frequency')) row.frequencyPenalty = -2 + 4 * rand();
  if (which.has('bias') || which.has('ban')) {
    const bias = new Map<number, number>();
    for (const id of randomIds(rand, 12, vocab))
      bias.set(id, which.has('bias') ? -30 + 60 * rand() : -Infinity);
    // Some ids of the output too, so one entry carries several processors.
    for (const id of outputPool.slice(0, 3)) bias.set(id, which.has('ban') ? -Infinity : 5 * rand());
    row.logitBias = bias;
  }
  return row;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe.skipIf(!gpu)('logitsProcessors', () => {
  const ctx = gpu!;
  const seed = Date.now() % 1e6;

  it.each([
    ['repetition'],
    ['presence'],
    ['frequency'],
    ['bias'],
    ['ban'],
    ['repetition', 'presence', 'frequency', 'bias'],
    ['repetition', 'presence', 'frequency', 'ban'],
  ] as const)(
    'applies %s exactly as the reference, leaving other rows bitwise unchanged',
    async (...which) => {
      const rand = seededRandom(seed + which.length * 7 + which[0].length);
      const vocab = 1003;
      const rows = [
        randomRow(rand, vocab, new Set(which)),
        {},
        randomRow(rand, vocab, new Set(which)),
        // Settings that are all "off": no entries.
        {
          repetitionPenalty: 1,
          presencePenalty: 0,
          frequencyPenalty: 0,
          promptTokens: [1, 2],
          outputTokens: [3],
        },
        randomRow(rand, vocab, new Set(which)),
      ];
      const logits = randomFloats(rand, rows.length * vocab, -8, 8);
      logits[vocab + 4] = -0;
      logits[3 * vocab + 1] = Number.NaN;
      const got = await runProcessors(logits, vocab, rows);
      const want = reference.applyLogitsProcessors(logits.slice(), vocab, rows);
      expect(bits(got), `seed ${seed}`).toEqual(bits(want));
      for (const r of [1, 3]) {
        expect(bits(got.subarray(r * vocab, (r + 1) * vocab))).toEqual(
          bits(logits.subarray(r * vocab, (r + 1) * vocab)),
        );
      }
      // Every processor changed something, so the comparison is not vacuous.
      let changed = 0;
      for (let i = 0; i < got.length; i++) if (!Object.is(got[i], logits[i])) changed++;
      expect(changed).toBeGreaterThan(20);
    },
  );

  it.each([1, 7, 32000, 151936])('matches the reference with every processor at vocab %i', async (vocab) => {
    const rand = seededRandom(seed + vocab);
    const all = new Set(['repetition', 'presence', 'frequency', 'bias'] as const);
    const rows = [randomRow(rand, vocab, all), {}, randomRow(rand, vocab, new Set(['ban'] as const))];
    const logits = randomFloats(rand, rows.length * vocab, -8, 8);
    const got = await runProcessors(logits, vocab, rows);
    expect(bits(got), `seed ${seed}`).toEqual(
      bits(reference.applyLogitsProcessors(logits.slice(), vocab, rows)),
    );
    expect(bits(got.subarray(vocab, 2 * vocab))).toEqual(bits(logits.subarray(vocab, 2 * vocab)));
  });

  it('follows vLLM on a hand-checked row: divide positives, multiply negatives, then subtract, then add', async () => {
    const logits = new Float32Array([2, -2, 3, 1, 0.5, 4, -1]);
    const row: RowLogitsProcessors = {
      repetitionPenalty: 2,
      presencePenalty: 0.25,
      frequencyPenalty: 0.5,
      promptTokens: [0, 1],
      outputTokens: [2, 2, 3, 0],
      logitBias: { 4: 1.5, 5: -Infinity, 3: -1 },
    };
    const got = await runProcessors(logits, 7, [row]);
    // 0: 2/2 - (0.25+0.5); 1: -2*2; 2: 3/2 - (0.25+1); 3: 1/2 - 0.75 - 1; 4: 0.5+1.5; 5: banned.
    expect([...got]).toEqual([0.25, -4, 0.25, -1.25, 2, -Infinity, -1]);
  });

  it('packs one entry per distinct token of a row, by row then token', () => {
    const packed = packLogitsProcessors(
      [
        {
          repetitionPenalty: 1.5,
          promptTokens: [5, 3, 5],
          outputTokens: [3, 3],
          logitBias: new Map([[3, 2]]),
        },
        {},
        { frequencyPenalty: 1, outputTokens: [9, 9, 9], logitBias: { 0: -Infinity } },
      ],
      10,
    );
    const { repeat, penalty, bias, ban } = LogitsProcessorFlag;
    expect(packed.entryCount).toBe(4);
    expect([...packed.rowParams]).toEqual([1.5, Math.fround(1 / 1.5), 1, 1, 1, 1]);
    const e = packed.entries;
    const f = new Float32Array(e.buffer);
    expect([e[0], e[1], e[4], e[5], e[8], e[9], e[12], e[13]]).toEqual([
      0,
      (3 | repeat | bias) >>> 0,
      0,
      (5 | repeat) >>> 0,
      2,
      (0 | ban) >>> 0,
      2,
      (9 | penalty) >>> 0,
    ]);
    expect([f[3], f[14]]).toEqual([2, 3]);
  });

  it('records nothing when no row has a processor', async () => {
    const logits = new Float32Array([1, -0, Number.NaN, 4]);
    const got = await runProcessors(logits, 2, [{}, { repetitionPenalty: 1, outputTokens: [1] }]);
    expect(bits(got)).toEqual(bits(logits));
  });

  it('rejects bad settings with a LogitsProcessorError naming the row and the field', () => {
    const cases: [RowLogitsProcessors, string][] = [
      [{ repetitionPenalty: 0, promptTokens: [1] }, 'repetitionPenalty'],
      [{ repetitionPenalty: -1.2 }, 'repetitionPenalty'],
      [{ repetitionPenalty: Number.NaN }, 'repetitionPenalty'],
      [{ repetitionPenalty: Infinity }, 'repetitionPenalty'],
      [{ presencePenalty: Number.NaN }, 'presencePenalty'],
      [{ frequencyPenalty: -Infinity }, 'frequencyPenalty'],
      [{ frequencyPenalty: 1e38, outputTokens: [1, 1, 1, 1] }, 'frequencyPenalty'],
      [{ repetitionPenalty: 1.1, promptTokens: [10] }, 'promptTokens'],
      // Checked even where no processor reads them.
      [{ promptTokens: [1, 10] }, 'promptTokens'],
      [{ outputTokens: [Number.NaN] }, 'outputTokens'],
      [{ presencePenalty: 1, outputTokens: [-1] }, 'outputTokens'],
      [{ presencePenalty: 1, outputTokens: [2.5] }, 'outputTokens'],
      [{ logitBias: { 10: 1 } }, 'logitBias'],
      [{ logitBias: new Map([[1, Infinity]]) }, 'logitBias'],
      [{ logitBias: new Map([[1, Number.NaN]]) }, 'logitBias'],
      [{ logitBias: new Map([[1, 1e39]]) }, 'logitBias'],
      [{ logitBias: { ['x' as unknown as number]: 1 } }, 'logitBias'],
    ];
    for (const [settings, field] of cases) {
      let error: unknown;
      try {
        packLogitsProcessors([{}, settings], 10);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(settings)).toBeInstanceOf(LogitsProcessorError);
      const e = error as LogitsProcessorError;
      expect([e.row, e.field, e.code]).toEqual([1, field, 'invalid_argument']);
      expect(e.message).toContain(`row 1: ${field}`);
    }
    expect(() => packLogitsProcessors([{}], 0)).toThrow(KernelShapeError);
  });

  it('rejects buffers that do not fit the shape with a KernelShapeError', () => {
    const logits = ctx.createBuffer(4 * 10, 'logits');
    const rowParams = ctx.createBuffer(16, 'rowParams');
    const entries = ctx.createBuffer(32, 'entries');
    const args = { logits, rowParams, entries, entryCount: 2, rows: 1, vocab: 10 };
    expect(() => logitsProcessors(ctx.recorder(), { ...args, entryCount: 3 })).toThrow(
      /entries holds 32 bytes/,
    );
    expect(() => logitsProcessors(ctx.recorder(), { ...args, vocab: 20 })).toThrow(KernelShapeError);
    expect(() => logitsProcessors(ctx.recorder(), { ...args, rows: 3 })).toThrow(KernelShapeError);
    expect(() => logitsProcessors(ctx.recorder(), { ...args, entries: logits })).toThrow(KernelShapeError);
    expect(() => logitsProcessors(ctx.recorder(), { ...args, entryCount: -1 })).toThrow(KernelShapeError);
  });
});
