/**
 * llama.cpp's `unicode_regex_split` (src/unicode.cpp): split text into pre-tokenized words.
 *
 * Pieces are tracked as lengths in code points. Each step splits every current piece; the text
 * between matches stays as pieces of its own. Two regex paths reproduce llama.cpp's std::regex use:
 *  - expressions naming \p{..} categories run on a "collapsed" text where every code point >= 128
 *    becomes one stand-in character for its category (letters 0xD2, numbers 0xD1, ...; whitespace
 *    0x0B), and each \p{X} becomes [<stand-in><ASCII members of X>]. Non-ASCII letters therefore
 *    count as both upper and lower case, exactly as in llama.cpp.
 *  - other expressions run on the real code points, with non-ASCII whitespace turned into 0x0B and
 *    \s meaning ASCII whitespace only (std::regex's classic-locale \s).
 */

import { byteLevelEncode } from './byte-level-alphabet.js';
import type { PreTokenizerType, SplitStep } from './pre-tokenizers.js';
import {
  codepointFlags,
  codepointsOf,
  FLAG_ACCENT_MARK,
  FLAG_LETTER,
  FLAG_NUMBER,
  FLAG_PUNCTUATION,
  FLAG_SYMBOL,
  isHan,
  isLetter,
  isNumber,
  isWhitespace,
  MASK_CATEGORIES,
  stringFromCodepoints,
  toLowerCodepoint,
} from './unicode-properties.js';

const OUT_OF_RANGE = -1;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const APOSTROPHE = 0x27;

type Splitter = (cpts: readonly number[], offsets: readonly number[]) => number[];

/** One piece-local view: code point and flags at an absolute position, "nothing" outside the piece. */
class PieceCursor {
  prevEnd: number;
  constructor(
    private readonly cpts: readonly number[],
    readonly ini: number,
    readonly end: number,
    private readonly out: number[],
  ) {
    this.prevEnd = ini;
  }
  cpt(pos: number): number {
    return pos >= this.ini && pos < this.end ? this.cpts[pos]! : OUT_OF_RANGE;
  }
  flags(pos: number): number {
    return pos >= this.ini && pos < this.end ? codepointFlags(this.cpts[pos]!) : 0;
  }
  /** Closes the current word at `end`; returns its length. */
  addToken(end: number): number {
    const len = end - this.prevEnd;
    if (len > 0) this.out.push(len);
    this.prevEnd = end;
    return len;
  }
}

function forEachPiece(offsets: readonly number[], fn: (ini: number, end: number) => void): void {
  let start = 0;
  for (const len of offsets) {
    fn(start, start + len);
    start += len;
  }
}

/** Matches one of 's 't 're 've 'm 'll 'd at pos (an apostrophe); returns its length or 0. */
function contractionLength(c: PieceCursor, pos: number, caseInsensitive: boolean): number {
  if (pos + 1 >= c.end) return 0;
  const lower = (x: number) => (caseInsensitive && x !== OUT_OF_RANGE ? toLowerCodepoint(x) : x);
  const next = lower(c.cpt(pos + 1));
  if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) return 2; // s t m d
  if (pos + 2 < c.end) {
    const nextNext = lower(c.cpt(pos + 2));
    if (
      (next === 0x72 && nextNext === 0x65) || // re
      (next === 0x76 && nextNext === 0x65) || // ve
      (next === 0x6c && nextNext === 0x6c) // ll
    ) {
      return 3;
    }
  }
  return 0;
}

const isPunctLike = (flags: number) =>
  !(isWhitespace(flags) || isLetter(flags) || isNumber(flags)) && flags !== 0;

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
const splitGpt2: Splitter = (cpts, offsets) => {
  const out: number[] = [];
  forEachPiece(offsets, (ini, end) => {
    const c = new PieceCursor(cpts, ini, end, out);
    for (let pos = ini; pos < end;) {
      const cpt = c.cpt(pos);
      const flags = c.flags(pos);
      if (cpt === APOSTROPHE) {
        const n = contractionLength(c, pos, false);
        if (n > 0) {
          pos += c.addToken(pos + n);
          continue;
        }
      }
      let flags2 = cpt === SPACE ? c.flags(pos + 1) : flags;
      if (isLetter(flags2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isLetter(flags2)) flags2 = c.flags(++pos);
        c.addToken(pos);
        continue;
      }
      if (isNumber(flags2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isNumber(flags2)) flags2 = c.flags(++pos);
        c.addToken(pos);
        continue;
      }
      if (isPunctLike(flags2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isPunctLike(flags2)) flags2 = c.flags(++pos);
        c.addToken(pos);
        continue;
      }
      let numWhitespaces = 0;
      while (isWhitespace(c.flags(pos + numWhitespaces))) numWhitespaces++;
      if (numWhitespaces > 1 && c.cpt(pos + numWhitespaces) !== OUT_OF_RANGE) {
        pos += numWhitespaces - 1;
        c.addToken(pos);
        continue;
      }
      if (numWhitespaces > 0) {
        pos += numWhitespaces;
        c.addToken(pos);
        continue;
      }
      c.addToken(++pos);
    }
  });
  return out;
};

/** The tail shared by the Llama 3 and Kimi-K2 splitters: \p{N}{1,3} and everything after it. */
function llama3Tail(c: PieceCursor, start: number): number {
  let pos = start;
  const cpt = c.cpt(pos);
  const flags = c.flags(pos);
  // \p{N}{1,3}
  if (isNumber(flags)) {
    let ini = pos;
    while (isNumber(c.flags(pos))) {
      if (++pos - ini >= 3) {
        c.addToken(pos);
        ini = pos;
      }
    }
    c.addToken(pos);
    return pos;
  }
  // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first character's flags for being
  // defined, not the one after the optional space; both are always defined inside a piece)
  let flags2 = cpt === SPACE ? c.flags(pos + 1) : flags;
  if (!(isWhitespace(flags2) || isLetter(flags2) || isNumber(flags2)) && flags !== 0) {
    pos += cpt === SPACE ? 1 : 0;
    while (isPunctLike(flags2)) flags2 = c.flags(++pos);
    let cpt2 = c.cpt(pos);
    while (cpt2 === CR || cpt2 === LF) cpt2 = c.cpt(++pos);
    c.addToken(pos);
    return pos;
  }
  let numWhitespaces = 0;
  let lastEndROrN = 0;
  while (isWhitespace(c.flags(pos + numWhitespaces))) {
    const cpt2 = c.cpt(pos + numWhitespaces);
    if (cpt2 === CR || cpt2 === LF) lastEndROrN = pos + numWhitespaces + 1;
    numWhitespaces++;
  }
  // \s*[\r\n]+
  if (lastEndROrN > 0) {
    pos = lastEndROrN;
    c.addToken(pos);
    return pos;
  }
  // \s+(?!\S)
  if (numWhitespaces > 1 && c.cpt(pos + numWhitespaces) !== OUT_OF_RANGE) {
    pos += numWhitespaces - 1;
    c.addToken(pos);
    return pos;
  }
  // \s+
  if (numWhitespaces > 0) {
    pos += numWhitespaces;
    c.addToken(pos);
    return pos;
  }
  c.addToken(++pos);
  return pos;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
const splitLlama3: Splitter = (cpts, offsets) => {
  const out: number[] = [];
  forEachPiece(offsets, (ini, end) => {
    const c = new PieceCursor(cpts, ini, end, out);
    for (let pos = ini; pos < end;) {
      const cpt = c.cpt(pos);
      const flags = c.flags(pos);
      if (cpt === APOSTROPHE) {
        const n = contractionLength(c, pos, true);
        if (n > 0) {
          pos += c.addToken(pos + n);
          continue;
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(cpt === CR || cpt === LF || isNumber(flags))) {
        if (isLetter(flags) || isLetter(c.flags(pos + 1))) {
          pos++;
          while (isLetter(c.flags(pos))) pos++;
          c.addToken(pos);
          continue;
        }
      }
      pos = llama3Tail(c, pos);
    }
  });
  return out;
};

// Kimi-K2 (tokenization_kimi.py): [\p{Han}]+ first, then Llama-3-like rules with Han excluded from
// letters and an optional contraction glued to the word.
const splitKimiK2: Splitter = (cpts, offsets) => {
  const out: number[] = [];
  forEachPiece(offsets, (ini, end) => {
    const c = new PieceCursor(cpts, ini, end, out);
    const nonHanLetter = (pos: number) => isLetter(c.flags(pos)) && !isHan(c.cpt(pos));
    for (let pos = ini; pos < end;) {
      const cpt = c.cpt(pos);
      const flags = c.flags(pos);
      if (isHan(cpt)) {
        while (isHan(c.cpt(pos))) pos++;
        c.addToken(pos);
        continue;
      }
      const leading = !(cpt === CR || cpt === LF || isLetter(flags) || isNumber(flags));
      if ((isLetter(flags) && !isHan(cpt)) || (leading && nonHanLetter(pos + 1))) {
        let hasLeadingChar = false;
        if (leading) {
          hasLeadingChar = true;
          pos++;
        }
        let hasLetters = false;
        while (nonHanLetter(pos)) {
          hasLetters = true;
          pos++;
        }
        if (hasLetters || (!hasLeadingChar && nonHanLetter(pos))) {
          if (!hasLetters) pos++;
          while (nonHanLetter(pos)) pos++;
          if (c.cpt(pos) === APOSTROPHE) pos += contractionLength(c, pos, true);
          c.addToken(pos);
          continue;
        } else if (hasLeadingChar) {
          pos--;
        }
      }
      pos = llama3Tail(c, pos);
    }
  });
  return out;
};

// AFMoE: digit runs grouped in threes from the right (the leading group takes the remainder).
const splitAfmoeDigits: Splitter = (cpts, offsets) => {
  const out: number[] = [];
  forEachPiece(offsets, (ini, end) => {
    const c = new PieceCursor(cpts, ini, end, out);
    for (let pos = ini; pos < end;) {
      if (isNumber(c.flags(pos))) {
        const digitStart = pos;
        let digitCount = 0;
        while (isNumber(c.flags(pos)) && pos < end) {
          digitCount++;
          pos++;
        }
        const remainder = digitCount % 3;
        let current = digitStart;
        if (remainder > 0) {
          c.addToken(current + remainder);
          current += remainder;
        }
        while (current < digitStart + digitCount) {
          c.addToken(current + 3);
          current += 3;
        }
        continue;
      }
      pos++;
    }
    if (c.prevEnd < end) c.addToken(end);
  });
  return out;
};

const CATEGORY_STAND_IN: ReadonlyMap<number, number> = new Map([
  [FLAG_NUMBER, 0xd1],
  [FLAG_LETTER, 0xd2],
  [FLAG_PUNCTUATION, 0xd3],
  [FLAG_ACCENT_MARK, 0xd4],
  [FLAG_SYMBOL, 0xd5],
]);

// \p{..} names llama.cpp collapses, with the ASCII members of each category.
const CATEGORY_CLASSES: ReadonlyMap<string, [number, string]> = (() => {
  const number: [number, string] = [0xd1, '0-9'];
  const letter: [number, string] = [0xd2, 'A-Za-z'];
  return new Map([
    [String.raw`\p{N}`, number],
    [String.raw`\p{L}`, letter],
    [String.raw`\p{P}`, [0xd3, String.raw`!-#%-*,-/:-;?-@\[-\]_\{\}`]],
    [String.raw`\p{M}`, [0xd4, '']],
    [String.raw`\p{S}`, [0xd5, String.raw`\$\+<->^` + '`' + String.raw`\|`]],
    [String.raw`\p{Lu}`, letter],
    [String.raw`\p{Ll}`, letter],
    [String.raw`\p{Lt}`, letter],
    [String.raw`\p{Lm}`, letter],
    [String.raw`\p{Lo}`, letter],
  ]);
})();

function usesCategories(source: string): boolean {
  for (const name of CATEGORY_CLASSES.keys()) if (source.includes(name)) return true;
  return false;
}

/** llama.cpp's rewrite of an expression for the collapsed text (same bracket tracking, same limits). */
function collapseExpression(source: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '[' && (i === 0 || source[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && ch === ']' && source[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (ch === '\\' && i + 3 < source.length && source[i + 1] === 'p' && source[i + 2] === '{') {
      const close = source.indexOf('}', i + 3);
      if (close !== -1 && close <= i + 10) {
        const cls = CATEGORY_CLASSES.get(source.slice(i, close + 1));
        if (cls !== undefined) {
          const body = String.fromCharCode(cls[0]) + cls[1];
          out += inside ? body : `[${body}]`;
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

// std::regex's \s in the classic locale.
const ASCII_SPACE_CLASS = String.raw`\t\n\v\f\r `;

/** \s and \S as std::regex reads them (ASCII whitespace), for an expression run in JavaScript's u mode. */
function asciiWhitespaceExpression(source: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === '\\' && i + 1 < source.length) {
      const next = source[i + 1]!;
      if (next === 's') out += inside ? ASCII_SPACE_CLASS : `[${ASCII_SPACE_CLASS}]`;
      else if (next === 'S' && !inside) out += `[^${ASCII_SPACE_CLASS}]`;
      else out += ch + next;
      i++;
      continue;
    }
    if (ch === '[') inside = true;
    else if (ch === ']') inside = false;
    out += ch;
  }
  return out;
}

interface CompiledRegexStep {
  readonly kind: 'regex';
  readonly collapsed: boolean;
  readonly regex: RegExp;
}
type CompiledStep = CompiledRegexStep | { readonly kind: 'custom'; readonly split: Splitter };

function compileStep(step: SplitStep): CompiledStep {
  switch (step.kind) {
    case 'gpt2':
      return { kind: 'custom', split: splitGpt2 };
    case 'llama3':
      return { kind: 'custom', split: splitLlama3 };
    case 'kimi-k2':
      return { kind: 'custom', split: splitKimiK2 };
    case 'afmoe-digits':
      return { kind: 'custom', split: splitAfmoeDigits };
    case 'regex':
      // Collapsed text is all single UTF-16 units: no u flag (its stricter escapes would reject
      // llama.cpp's `\-`-style identity escapes). Real text needs u for astral ranges.
      return usesCategories(step.source)
        ? { kind: 'regex', collapsed: true, regex: new RegExp(collapseExpression(step.source), 'g') }
        : {
            kind: 'regex',
            collapsed: false,
            regex: new RegExp(asciiWhitespaceExpression(step.source), 'gu'),
          };
  }
}

/** Text views a regex step runs on, built once per split. */
class SplitTexts {
  private collapsedText: string | undefined;
  private plain: { text: string; utf16Start: Int32Array; cpAt: Int32Array } | undefined;
  constructor(private readonly cpts: readonly number[]) {}

  collapsed(): string {
    if (this.collapsedText === undefined) {
      const units = new Uint16Array(this.cpts.length);
      this.cpts.forEach((cpt, i) => {
        if (cpt < 128) units[i] = cpt;
        else {
          const flags = codepointFlags(cpt);
          units[i] = isWhitespace(flags) ? 0x0b : (CATEGORY_STAND_IN.get(flags & MASK_CATEGORIES) ?? 0xd0);
        }
      });
      let s = '';
      for (let i = 0; i < units.length; i += 4096) s += String.fromCharCode(...units.subarray(i, i + 4096));
      this.collapsedText = s;
    }
    return this.collapsedText;
  }

  /** Real text with non-ASCII whitespace as 0x0B, plus code point <-> UTF-16 index maps. */
  plainText(): { text: string; utf16Start: Int32Array; cpAt: Int32Array } {
    if (this.plain === undefined) {
      const mapped = this.cpts.map((cpt) => (cpt > 0x7f && isWhitespace(codepointFlags(cpt)) ? 0x0b : cpt));
      const text = stringFromCodepoints(mapped);
      const utf16Start = new Int32Array(mapped.length + 1);
      const cpAt = new Int32Array(text.length + 1);
      let u = 0;
      mapped.forEach((cpt, i) => {
        utf16Start[i] = u;
        cpAt[u] = i;
        if (cpt > 0xffff) cpAt[u + 1] = i;
        u += cpt > 0xffff ? 2 : 1;
      });
      utf16Start[mapped.length] = u;
      cpAt[u] = mapped.length;
      this.plain = { text, utf16Start, cpAt };
    }
    return this.plain;
  }
}

function splitWithRegex(step: CompiledRegexStep, texts: SplitTexts, offsets: readonly number[]): number[] {
  const out: number[] = [];
  const { regex } = step;
  forEachPiece(offsets, (ini, end) => {
    let piece: string;
    let toCp: (utf16: number) => number;
    if (step.collapsed) {
      piece = texts.collapsed().slice(ini, end);
      toCp = (u) => u;
    } else {
      const plain = texts.plainText();
      const base = plain.utf16Start[ini]!;
      piece = plain.text.slice(base, plain.utf16Start[end]);
      toCp = (u) => plain.cpAt[base + u]! - ini;
    }
    const pieceLen = end - ini;
    let startIdx = 0;
    regex.lastIndex = 0;
    for (let m = regex.exec(piece); m !== null; m = regex.exec(piece)) {
      const pos = toCp(m.index);
      const matchEnd = toCp(m.index + m[0].length);
      if (pos > startIdx) out.push(pos - startIdx);
      // Empty matches (pure lookaheads) only mark a boundary; llama.cpp's zero-length pieces
      // disappear in the next step or produce no tokens.
      if (matchEnd > pos) out.push(matchEnd - pos);
      startIdx = matchEnd;
      if (m[0].length === 0) {
        const code = piece.codePointAt(regex.lastIndex);
        regex.lastIndex += code !== undefined && code > 0xffff ? 2 : 1;
      }
    }
    if (startIdx < pieceLen) out.push(pieceLen - startIdx);
  });
  return out;
}

/** A pre-tokenizer compiled once and reused for every text. */
export class PreTokenizer {
  private readonly steps: readonly CompiledStep[];
  constructor(readonly type: PreTokenizerType) {
    this.steps = type.steps.map(compileStep);
  }

  /** The words of `text`, each in GPT-2 byte characters when the type byte-encodes. */
  split(text: string): string[] {
    const cpts = codepointsOf(text);
    if (cpts.length === 0) return [];
    const texts = new SplitTexts(cpts);
    let offsets: number[] = [cpts.length];
    for (const step of this.steps) {
      offsets = step.kind === 'custom' ? step.split(cpts, offsets) : splitWithRegex(step, texts, offsets);
    }
    const words: string[] = [];
    let start = 0;
    for (const len of offsets) {
      const word = stringFromCodepoints(cpts, start, start + len);
      start += len;
      if (len > 0) words.push(this.type.byteEncode ? byteLevelEncode(word) : word);
    }
    return words;
  }
}
