/**
 * SentencePiece-style BPE over scored pieces (llama.cpp's llm_tokenizer_spm_session): start from
 * the characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring
 * vocabulary entry (ties: leftmost), then write each final symbol as its token or, when it is not
 * in the vocabulary, as byte tokens. A heap of candidate pairs keeps this O(n log n).
 */

import { PriorityQueue } from './priority-queue.js';
import type { LlamaVocabulary } from './llama-vocabulary.js';
import { InvalidVocabularyError } from './tokenizer-errors.js';

interface Bigram {
  readonly left: number;
  readonly right: number;
  readonly score: number;
  /** UTF-16 length of the merged text: a pair whose symbols changed since it was queued is stale. */
  readonly size: number;
}

const bigramBefore = (a: Bigram, b: Bigram) => a.score > b.score || (a.score === b.score && a.left < b.left);

const utf8 = new TextEncoder();

/** Byte-fallback token of each byte: `<0xXX>`, else the one-byte text itself (llama_vocab::byte_to_token). */
export class ByteTokens {
  private readonly ids = new Int32Array(256).fill(-2);
  constructor(private readonly vocab: LlamaVocabulary) {}

  get(byte: number): number {
    let id = this.ids[byte]!;
    if (id === -2) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0');
      id =
        this.vocab.tokenToId.get(`<0x${hex}>`) ??
        (byte < 0x80 ? this.vocab.tokenToId.get(String.fromCharCode(byte)) : undefined) ??
        -1;
      this.ids[byte] = id;
    }
    if (id < 0) {
      // SentencePiece without byte fallback writes <unk> for what it cannot spell.
      const unk = this.vocab.special.unk;
      if (unk !== undefined) return unk;
      throw new InvalidVocabularyError(
        `the vocabulary has no byte token <0x${byte.toString(16).toUpperCase().padStart(2, '0')}> and no <unk> for text it cannot spell`,
      );
    }
    return id;
  }
}

/** Encodes one text fragment (spaces already escaped to U+2581) and appends its ids to `out`. */
export function spmEncode(vocab: LlamaVocabulary, byteTokens: ByteTokens, text: string, out: number[]): void {
  // Symbols are code points, addressed by UTF-16 start and length in `text`.
  const starts: number[] = [];
  for (let i = 0; i < text.length;) {
    starts.push(i);
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  const n = starts.length;
  if (n === 0) return;
  const start = Int32Array.from(starts);
  const len = new Int32Array(n);
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    len[i] = (i + 1 < n ? start[i + 1]! : text.length) - start[i]!;
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  const queue = new PriorityQueue<Bigram>(bigramBefore);
  const tryAddBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const merged = text.slice(start[left]!, start[left]! + len[left]! + len[right]!);
    const id = vocab.tokenToId.get(merged);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.scores[id]!, size: merged.length });
  };

  for (let i = 1; i < n; i++) tryAddBigram(i - 1, i);

  for (let bigram = queue.pop(); bigram !== undefined; bigram = queue.pop()) {
    const { left, right } = bigram;
    if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== bigram.size) continue;
    len[left] = len[left]! + len[right]!;
    len[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    tryAddBigram(prev[left]!, left);
    tryAddBigram(left, next[left]!);
  }

  // Every merged symbol is a vocabulary entry (merges only form entries), so a final symbol is
  // either a token or a single character that needs byte fallback: llama.cpp's resegment() never
  // finds a recorded merge for it.
  for (let i = 0; i !== -1; i = next[i]!) {
    const piece = text.slice(start[i]!, start[i]! + len[i]!);
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    for (const b of utf8.encode(piece)) out.push(byteTokens.get(b));
  }
}
