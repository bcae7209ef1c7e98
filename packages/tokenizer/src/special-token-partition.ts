/**
 * Cuts special-token text out of the input before tokenization (llama.cpp's
 * tokenizer_st_partition). Tokens are tried longest first; control and unknown tokens only when
 * special text is parsed, user-defined tokens always. A token with lstrip/rstrip also swallows the
 * ASCII whitespace beside it.
 */

import { TokenAttr, type LlamaVocabulary } from './llama-vocabulary.js';

export type Fragment =
  | { readonly kind: 'text'; readonly start: number; readonly end: number }
  | { readonly kind: 'token'; readonly id: number };

// C isspace() in the classic locale.
function isAsciiSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function splitFragment(
  text: string,
  start: number,
  end: number,
  tokenText: string,
  id: number,
  attr: number,
  out: Fragment[],
): void {
  let base = start;
  for (;;) {
    const match = text.indexOf(tokenText, base);
    if (match === -1 || match + tokenText.length > end) break;
    let leftEnd = match;
    if (attr & TokenAttr.lstrip)
      while (leftEnd > base && isAsciiSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
    if (leftEnd > base) out.push({ kind: 'text', start: base, end: leftEnd });
    out.push({ kind: 'token', id });
    base = match + tokenText.length;
    if (attr & TokenAttr.rstrip) while (base < end && isAsciiSpace(text.charCodeAt(base))) base++;
  }
  if (base < end) out.push({ kind: 'text', start: base, end });
}

export function partitionSpecialTokens(
  vocab: LlamaVocabulary,
  text: string,
  parseSpecial: boolean,
): Fragment[] {
  let fragments: Fragment[] = text.length > 0 ? [{ kind: 'text', start: 0, end: text.length }] : [];
  for (const id of vocab.specialTokens) {
    const attr = vocab.attrs[id]!;
    if (!parseSpecial && attr & (TokenAttr.control | TokenAttr.unknown)) continue;
    const tokenText = vocab.tokens[id]!;
    if (!text.includes(tokenText)) continue;
    const next: Fragment[] = [];
    for (const f of fragments) {
      if (f.kind === 'token') next.push(f);
      else splitFragment(text, f.start, f.end, tokenText, id, attr, next);
    }
    fragments = next;
  }
  return fragments;
}
