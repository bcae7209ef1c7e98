/**
 * Per-code-point classification as llama.cpp's unicode tables give it (src/unicode-data.cpp,
 * generated from Python's `regex` module: exactly one of \p{N} \p{L} \p{Z} \p{M} \p{P} \p{S} \p{C}
 * per code point, unassigned ones counting as \p{C}, and \s meaning the Unicode White_Space set).
 * The same properties are read here from the JavaScript engine's Unicode data.
 */

export const FLAG_NUMBER = 0x0002;
export const FLAG_LETTER = 0x0004;
export const FLAG_SEPARATOR = 0x0008;
export const FLAG_ACCENT_MARK = 0x0010;
export const FLAG_PUNCTUATION = 0x0020;
export const FLAG_SYMBOL = 0x0040;
export const FLAG_CONTROL = 0x0080;
export const MASK_CATEGORIES = 0x00ff;
export const FLAG_WHITESPACE = 0x0100;

const MAX_CODEPOINTS = 0x110000;

const categoryTests: readonly [RegExp, number][] = [
  [/\p{N}/u, FLAG_NUMBER],
  [/\p{L}/u, FLAG_LETTER],
  [/\p{Z}/u, FLAG_SEPARATOR],
  [/\p{M}/u, FLAG_ACCENT_MARK],
  [/\p{P}/u, FLAG_PUNCTUATION],
  [/\p{S}/u, FLAG_SYMBOL],
  [/\p{C}/u, FLAG_CONTROL],
];
const whitespaceTest = /\p{White_Space}/u;

// Filled on demand: 0 means "not classified yet" (every real code point has a category bit).
let flagCache: Uint16Array | undefined;

function classify(cpt: number): number {
  // Lone surrogates only reach here from ill-formed text; \p{C} (Cs) is their category.
  const ch = String.fromCodePoint(cpt);
  let flags = 0;
  for (const [re, bit] of categoryTests) {
    if (re.test(ch)) flags |= bit;
  }
  if (flags === 0) flags = FLAG_CONTROL;
  if (whitespaceTest.test(ch)) flags |= FLAG_WHITESPACE;
  return flags;
}

/** Flags of a code point; 0 (no category) for positions outside the text, as llama.cpp's `unicode_cpt_flags{}`. */
export function codepointFlags(cpt: number): number {
  if (cpt < 0 || cpt >= MAX_CODEPOINTS) return 0;
  flagCache ??= new Uint16Array(MAX_CODEPOINTS);
  let flags = flagCache[cpt]!;
  if (flags === 0) {
    flags = classify(cpt);
    flagCache[cpt] = flags;
  }
  return flags;
}

export function isLetter(flags: number): boolean {
  return (flags & FLAG_LETTER) !== 0;
}
export function isNumber(flags: number): boolean {
  return (flags & FLAG_NUMBER) !== 0;
}
export function isWhitespace(flags: number): boolean {
  return (flags & FLAG_WHITESPACE) !== 0;
}

/** First code point of the lowercase mapping, as llama.cpp's `unicode_tolower` table holds it. */
export function toLowerCodepoint(cpt: number): number {
  if (cpt < 0x41) return cpt;
  if (cpt <= 0x5a) return cpt + 0x20;
  if (cpt < 0x80) return cpt;
  return String.fromCodePoint(cpt).toLowerCase().codePointAt(0) ?? cpt;
}

/** llama.cpp's `unicode_cpt_is_han`: the CJK ideograph blocks Kimi-K2's pre-tokenizer keeps apart. */
export function isHan(cpt: number): boolean {
  return (
    (cpt >= 0x4e00 && cpt <= 0x9fff) ||
    (cpt >= 0x3400 && cpt <= 0x4dbf) ||
    (cpt >= 0x20000 && cpt <= 0x2a6df) ||
    (cpt >= 0x2a700 && cpt <= 0x2b73f) ||
    (cpt >= 0x2b740 && cpt <= 0x2b81f) ||
    (cpt >= 0x2b820 && cpt <= 0x2ceaf) ||
    (cpt >= 0x2ceb0 && cpt <= 0x2ebef) ||
    (cpt >= 0xf900 && cpt <= 0xfaff) ||
    (cpt >= 0x2f800 && cpt <= 0x2fa1f)
  );
}

/** Code points of a string (ill-formed UTF-16 is first replaced by U+FFFD, as UTF-8 encoding would). */
export function codepointsOf(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const cpt = ch.codePointAt(0)!;
    out.push(cpt >= 0xd800 && cpt <= 0xdfff ? 0xfffd : cpt);
  }
  return out;
}

export function stringFromCodepoints(cpts: readonly number[], start = 0, end = cpts.length): string {
  let s = '';
  // String.fromCodePoint takes at most ~65k arguments: build in chunks.
  for (let i = start; i < end; i += 4096) {
    s += String.fromCodePoint(...cpts.slice(i, Math.min(end, i + 4096)));
  }
  return s;
}
