/**
 * WordPiece (BERT) as llama.cpp's llm_tokenizer_wpm_session does it: BERT-style normalization and
 * word splitting, then greedy longest-match of "▁word" against the vocabulary; a word that cannot
 * be covered becomes [UNK].
 */

import type { LlamaVocabulary } from './llama-vocabulary.js';
import {
  codepointFlags,
  codepointsOf,
  FLAG_ACCENT_MARK,
  FLAG_CONTROL,
  FLAG_PUNCTUATION,
  FLAG_SYMBOL,
  isWhitespace,
  toLowerCodepoint,
} from './unicode-properties.js';

function isChineseChar(cpt: number): boolean {
  return (
    (cpt >= 0x04e00 && cpt <= 0x09fff) ||
    (cpt >= 0x03400 && cpt <= 0x04dbf) ||
    (cpt >= 0x20000 && cpt <= 0x2a6df) ||
    (cpt >= 0x2a700 && cpt <= 0x2b73f) ||
    (cpt >= 0x2b740 && cpt <= 0x2b81f) ||
    // 0x2B920, not 0x2B820: the value Hugging Face's Rust code uses
    (cpt >= 0x2b920 && cpt <= 0x2ceaf) ||
    (cpt >= 0x0f900 && cpt <= 0x0faff) ||
    (cpt >= 0x2f800 && cpt <= 0x2fa1f)
  );
}

/** First code point of the canonical decomposition (llama.cpp's per-code-point NFD table). */
function nfdFirst(cpt: number): number {
  if (cpt < 0xc0) return cpt;
  return String.fromCodePoint(cpt).normalize('NFD').codePointAt(0) ?? cpt;
}

function preprocess(text: string, lowercase: boolean, stripAccents: boolean): string[] {
  const words: string[] = [''];
  const push = () => {
    if (words[words.length - 1] !== '') words.push('');
  };
  for (const raw of codepointsOf(text)) {
    const cpt = stripAccents ? nfdFirst(raw) : raw;
    const flags = codepointFlags(cpt);
    if (isWhitespace(flags)) {
      push();
      continue;
    }
    if (cpt === 0 || cpt === 0xfffd || flags & FLAG_CONTROL) continue;
    if (stripAccents && flags & FLAG_ACCENT_MARK) continue;
    const s = String.fromCodePoint(lowercase ? toLowerCodepoint(cpt) : cpt);
    if (flags & FLAG_PUNCTUATION || (cpt < 0x7f && flags & FLAG_SYMBOL) || isChineseChar(cpt)) {
      push();
      words[words.length - 1] = s;
      words.push('');
    } else {
      words[words.length - 1] += s;
    }
  }
  if (words[words.length - 1] === '') words.pop();
  return words;
}

const utf8 = new TextEncoder();

export function wpmEncode(vocab: LlamaVocabulary, text: string, out: number[]): void {
  const words = preprocess(text, vocab.normalizerLowercase, vocab.normalizerStripAccents);
  for (const word of words) {
    if (word === '') continue;
    const chars = Array.from('\u2581' + word);
    // Byte offset of each character boundary: the match length limit is in bytes.
    const byteAt = [0];
    for (const ch of chars) byteAt.push(byteAt[byteAt.length - 1]! + utf8.encode(ch).length);
    const before = out.length;
    for (let i = 0; i < chars.length; i++) {
      let matched = false;
      const limit = byteAt[i]! + vocab.maxTokenLength + 1;
      for (let j = chars.length; j > i; j--) {
        if (byteAt[j]! > limit) continue;
        const id = vocab.tokenToId.get(chars.slice(i, j).join(''));
        if (id !== undefined) {
          out.push(id);
          matched = true;
          i = j - 1;
          break;
        }
      }
      if (!matched) {
        out.length = before;
        break;
      }
    }
    if (out.length === before && vocab.special.unk !== undefined) out.push(vocab.special.unk);
  }
}
