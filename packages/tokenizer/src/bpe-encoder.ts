/**
 * Rank-ordered BPE over pre-tokenized words (llama.cpp's llm_tokenizer_bpe_session): each word
 * starts as its characters; the adjacent pair with the lowest merge rank (ties: leftmost) merges
 * until no ranked pair is left. Final symbols missing from the vocabulary fall back to their bytes.
 */

import { PriorityQueue } from './priority-queue.js';
import type { LlamaVocabulary } from './llama-vocabulary.js';
import type { PreTokenizer } from './regex-split.js';

interface Bigram {
  readonly left: number;
  readonly right: number;
  readonly text: string;
  readonly rank: number;
}

const bigramBefore = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

const utf8 = new TextEncoder();

function encodeWord(vocab: LlamaVocabulary, word: string, byteEncoded: boolean, out: number[]): void {
  if (vocab.ignoreMerges) {
    const id = vocab.tokenToId.get(word);
    if (id !== undefined) {
      out.push(id);
      return;
    }
  }
  // Gemma 4: a run of newlines that is a token stays whole.
  if (vocab.preTokenizer?.type.id === 'gemma4' && /^\n+$/.test(word)) {
    const id = vocab.tokenToId.get(word);
    if (id !== undefined) {
      out.push(id);
      return;
    }
  }

  const symbols: string[] = Array.from(word);
  const n = symbols.length;
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const queue = new PriorityQueue<Bigram>(bigramBefore);
  const addBigram = (left: number, right: number) => {
    if (left === -1 || right === -1) return;
    const rank = vocab.bpeRanks.get(`${symbols[left]!} ${symbols[right]!}`);
    if (rank === undefined) return;
    queue.push({ left, right, text: symbols[left]! + symbols[right]!, rank });
  };
  for (let i = 1; i < n; i++) addBigram(i - 1, i);

  for (let bigram = queue.pop(); bigram !== undefined; bigram = queue.pop()) {
    const { left, right } = bigram;
    const l = symbols[left]!;
    const r = symbols[right]!;
    if (l === '' || r === '' || l + r !== bigram.text) continue;
    symbols[left] = bigram.text;
    symbols[right] = '';
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    addBigram(prev[left]!, left);
    addBigram(left, next[left]!);
  }

  for (let i = 0; i !== -1; i = next[i]!) {
    const piece = symbols[i]!;
    if (piece === '') continue;
    const id = vocab.tokenToId.get(piece);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    // llama.cpp looks each UTF-8 byte up as a one-byte text (byte-level vocabularies) or as
    // <0xXX> (raw UTF-8 vocabularies), silently skipping bytes it cannot find.
    for (const b of utf8.encode(piece)) {
      const byteId = byteEncoded
        ? b < 0x80
          ? vocab.tokenToId.get(String.fromCharCode(b))
          : undefined
        : vocab.tokenToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (byteId !== undefined) out.push(byteId);
    }
  }
}

/** Encodes one text fragment and appends its ids to `out`. */
export function bpeEncode(
  vocab: LlamaVocabulary,
  preTokenizer: PreTokenizer,
  text: string,
  out: number[],
): void {
  const byteEncoded = preTokenizer.type.byteEncode;
  for (const word of preTokenizer.split(text)) encodeWord(vocab, word, byteEncoded, out);
}
