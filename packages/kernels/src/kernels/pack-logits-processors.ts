import { KernelShapeError, LogitsProcessorError } from '../runtime/errors.js';

/**
 * The logits processors of one row (one sampled sequence), vLLM's semantics; every field may be
 * left out. Applied in this order: repetition penalty, presence and frequency penalties, logit bias.
 */
export interface RowLogitsProcessors {
  /** > 0; 1 = off. A token of the prompt or the output: logit > 0 ? logit / r : logit * r. */
  repetitionPenalty?: number | undefined;
  /** 0 = off. Subtracted once from every token the output holds (OpenAI semantics). */
  presencePenalty?: number | undefined;
  /** 0 = off. Subtracted once per occurrence of the token in the output. */
  frequencyPenalty?: number | undefined;
  /** The prompt's token ids (repetition penalty only). */
  promptTokens?: Iterable<number> | undefined;
  /** The token ids generated so far, repeats included (the counts come from them). */
  outputTokens?: Iterable<number> | undefined;
  /** Added to the token's logit; -Infinity bans it (its logit becomes -Infinity whatever it was). */
  logitBias?: ReadonlyMap<number, number> | Readonly<Record<number, number>> | undefined;
}

/** u32 words per entry of {@link PackedLogitsProcessors.entries}. */
export const LOGITS_PROCESSOR_ENTRY_WORDS = 4;
/** f32 words per row of {@link PackedLogitsProcessors.rowParams}. */
export const LOGITS_PROCESSOR_ROW_WORDS = 2;

/**
 * Flags in the high bits of an entry's token word. The vocabulary is below 2^28 (checked), which
 * leaves the top four bits free.
 */
export const LogitsProcessorFlag = {
  /** Multiply by the row's repetition factor for the logit's sign. */
  repeat: 0x8000_0000,
  /** Subtract the entry's penalty (word 2). */
  penalty: 0x4000_0000,
  /** Add the entry's bias (word 3). */
  bias: 0x2000_0000,
  /** Store -Infinity, whatever the logit was. */
  ban: 0x1000_0000,
} as const;
const TOKEN_MASK = 0x0fff_ffff;
/** The largest vocabulary an entry's token field holds. */
export const LOGITS_PROCESSOR_MAX_VOCAB = TOKEN_MASK + 1;

/**
 * The contents of `logitsProcessors`' two buffers.
 * - `rowParams` f32 [rows, 2]: (r, 1/r) of each row's repetition penalty, 1/r rounded to f32 here
 *   so that every adapter multiplies by the same factor (a GPU's division may be off by an ulp).
 * - `entries` u32 [entryCount, 4], one per (row, distinct token) that some processor touches,
 *   by row then token: (row, token | flags, penalty f32 bits, bias f32 bits). The penalty is
 *   presence + frequency · count, rounded to f32 once here.
 */
export interface PackedLogitsProcessors {
  rowParams: Float32Array;
  entries: Uint32Array;
  entryCount: number;
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
function bitsOf(v: number): number {
  f32[0] = v;
  return f32Bits[0]!;
}

/**
 * Packs the logits processors of `rows` (one per logits row, in order) for a vocabulary of
 * `vocab` tokens. Each distinct token of a row gets one entry holding all that applies to it, so
 * the kernel writes each logit at most once; a zero penalty or bias adds nothing. A row with no
 * active processor gets no entry and its logits stay untouched. Throws a LogitsProcessorError
 * naming the row and the field for an id outside [0, vocab), a penalty that is not finite in f32
 * (or a repetition penalty <= 0), or a bias that is NaN or +Infinity.
 */
export function packLogitsProcessors(
  rows: readonly RowLogitsProcessors[],
  vocab: number,
): PackedLogitsProcessors {
  if (!Number.isInteger(vocab) || vocab < 1 || vocab > LOGITS_PROCESSOR_MAX_VOCAB) {
    throw new KernelShapeError(
      'packLogitsProcessors',
      `vocab must be an integer in [1, ${LOGITS_PROCESSOR_MAX_VOCAB}], got ${vocab}`,
    );
  }
  const rowParams = new Float32Array(rows.length * LOGITS_PROCESSOR_ROW_WORDS);
  const words: number[] = [];
  rows.forEach((p, row) => {
    const r = repetitionFactors(row, p.repetitionPenalty);
    rowParams[row * LOGITS_PROCESSOR_ROW_WORDS] = r.factor;
    rowParams[row * LOGITS_PROCESSOR_ROW_WORDS + 1] = r.inverse;
    const presence = finitePenalty(row, 'presencePenalty', p.presencePenalty);
    const frequency = finitePenalty(row, 'frequencyPenalty', p.frequencyPenalty);
    const penalized = presence !== 0 || frequency !== 0;

    // Ids are checked whether or not a processor reads them, so a bad request fails alike
    // with any settings.
    const seen = new Set<number>();
    const counts = new Map<number, number>();
    for (const id of p.promptTokens ?? []) seen.add(tokenId(row, 'promptTokens', id, vocab));
    for (const id of p.outputTokens ?? []) {
      const t = tokenId(row, 'outputTokens', id, vocab);
      seen.add(t);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    const biases = new Map<number, number>();
    for (const [key, bias] of biasEntries(p.logitBias)) {
      const id = tokenId(row, 'logitBias', typeof key === 'number' ? key : parseId(key), vocab, key);
      if (Number.isNaN(bias) || (bias !== -Infinity && !Number.isFinite(Math.fround(bias)))) {
        throw new LogitsProcessorError(
          row,
          'logitBias',
          `of token ${id} must be a finite f32 or -Infinity (a ban), got ${bias}`,
        );
      }
      if (bias !== 0) biases.set(id, bias);
    }

    const tokens = new Set([
      ...(r.active ? seen : []),
      ...(penalized ? counts.keys() : []),
      ...biases.keys(),
    ]);
    for (const id of [...tokens].sort((a, b) => a - b)) {
      const bias = biases.get(id) ?? 0;
      const count = penalized ? (counts.get(id) ?? 0) : 0;
      const penalty = count > 0 ? Math.fround(presence + frequency * count) : 0;
      if (!Number.isFinite(penalty)) {
        throw new LogitsProcessorError(
          row,
          'frequencyPenalty',
          `times the count ${count} of token ${id}, plus presencePenalty, overflows f32`,
        );
      }
      let flags = 0;
      if (bias === -Infinity) flags = LogitsProcessorFlag.ban;
      else {
        if (r.active && seen.has(id)) flags |= LogitsProcessorFlag.repeat;
        if (penalty !== 0) flags |= LogitsProcessorFlag.penalty;
        if (bias !== 0) flags |= LogitsProcessorFlag.bias;
      }
      if (flags === 0) continue;
      words.push(row, (id | flags) >>> 0, bitsOf(penalty), bitsOf(Number.isFinite(bias) ? bias : 0));
    }
  });
  return {
    rowParams,
    entries: Uint32Array.from(words),
    entryCount: words.length / LOGITS_PROCESSOR_ENTRY_WORDS,
  };
}

function repetitionFactors(
  row: number,
  r: number | undefined,
): { active: boolean; factor: number; inverse: number } {
  if (r === undefined || r === 1) return { active: false, factor: 1, inverse: 1 };
  const factor = Math.fround(r);
  const inverse = Math.fround(1 / factor);
  if (!(factor > 0) || !Number.isFinite(factor) || !(inverse > 0) || !Number.isFinite(inverse)) {
    throw new LogitsProcessorError(
      row,
      'repetitionPenalty',
      `must be a finite number > 0 whose f32 and f32 inverse are finite and non-zero (1 = off), got ${r}`,
    );
  }
  return { active: factor !== 1, factor, inverse };
}

function finitePenalty(row: number, field: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(Math.fround(v))) {
    throw new LogitsProcessorError(row, field, `must be a finite f32 (0 = off), got ${v}`);
  }
  return v;
}

function tokenId(row: number, field: string, id: number, vocab: number, shown: unknown = id): number {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new LogitsProcessorError(
      row,
      field,
      `holds token id ${String(shown)}, which is not an integer in [0, ${vocab - 1}] (the vocabulary)`,
    );
  }
  return id;
}

/** A logitBias record's key: the decimal digits of a token id, nothing else. */
function parseId(key: string): number {
  return /^\d+$/.test(key) ? Number(key) : Number.NaN;
}

function biasEntries(
  bias: ReadonlyMap<number, number> | Readonly<Record<number, number>> | undefined,
): Iterable<[number | string, number]> {
  if (bias === undefined) return [];
  if (bias instanceof Map) return bias.entries() as Iterable<[number, number]>;
  return Object.entries(bias as Record<string, number>);
}
