import type { Tokenizer } from '@llm/tokenizer';
import type { TopLogprobsRow } from './serving-engine.js';

// JSON has no -Infinity (a banned token's log-probability); vLLM writes this floor instead.
const LOGPROB_FLOOR = -9999.0;

const logprobValue = (x: number): number => (Number.isFinite(x) ? x : LOGPROB_FLOOR);

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** A token as logprobs show it: its text (a leading space kept) and its bytes. */
export class TokenPieces {
  private readonly cache = new Map<number, { text: string; bytes: number[] }>();
  private readonly encoder = new TextEncoder();

  constructor(private readonly tokenizer: Tokenizer) {}

  of(id: number): { text: string; bytes: number[] } {
    let piece = this.cache.get(id);
    if (piece) return piece;
    const text = this.tokenizer.decode([id], { stripLeadingSpace: false, renderSpecial: true });
    // A byte-fallback token may be one byte of a longer character: its bytes say more than its text.
    const byte = BYTE_TOKEN.exec(this.tokenizer.tokenText(id) ?? '');
    piece = { text, bytes: byte ? [parseInt(byte[1]!, 16)] : [...this.encoder.encode(text)] };
    this.cache.set(id, piece);
    return piece;
  }
}

/** OpenAI's completions logprobs object. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/**
 * The completions API's logprobs for `rows`, whose first token starts at character `offset` of
 * the choice's text. top_logprobs holds the top alternatives and the sampled token, as vLLM's do.
 */
export function completionLogprobs(
  rows: readonly TopLogprobsRow[],
  pieces: TokenPieces,
  offset: number,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let at = offset;
  for (const row of rows) {
    const text = pieces.of(row.tokenId).text;
    out.tokens.push(text);
    out.token_logprobs.push(logprobValue(row.logprob));
    const top: Record<string, number> = {};
    for (const alt of row.top) top[pieces.of(alt.tokenId).text] ??= logprobValue(alt.logprob);
    top[text] ??= logprobValue(row.logprob);
    out.top_logprobs.push(top);
    out.text_offset.push(at);
    at += text.length;
  }
  return out;
}

/** Characters the completions logprobs of `rows` span (where the next token's offset starts). */
export function logprobsTextLength(rows: readonly TopLogprobsRow[], pieces: TokenPieces): number {
  return rows.reduce((n, row) => n + pieces.of(row.tokenId).text.length, 0);
}

export interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** The chat API's logprobs content entries for `rows`, each with its `topCount` best alternatives. */
export function chatLogprobs(
  rows: readonly TopLogprobsRow[],
  pieces: TokenPieces,
  topCount: number,
): ChatLogprob[] {
  return rows.map((row) => {
    const piece = pieces.of(row.tokenId);
    return {
      token: piece.text,
      logprob: logprobValue(row.logprob),
      bytes: piece.bytes,
      top_logprobs: row.top.slice(0, topCount).map((alt) => {
        const p = pieces.of(alt.tokenId);
        return { token: p.text, logprob: logprobValue(alt.logprob), bytes: p.bytes };
      }),
    };
  });
}
