/**
 * The Tokenizer over a llama.cpp-style vocabulary (GGUF or llama2.c): llama_vocab::impl::tokenize
 * and token_to_piece / detokenize.
 */

import { byteLevelDecode } from './byte-level-alphabet.js';
import { bpeEncode } from './bpe-encoder.js';
import { TokenAttr, type LlamaVocabulary } from './llama-vocabulary.js';
import { PreTokenizer } from './regex-split.js';
import { partitionSpecialTokens } from './special-token-partition.js';
import { ByteTokens, spmEncode } from './spm-encoder.js';
import type {
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  StreamDecoderOptions,
  Tokenizer,
} from './tokenizer.js';
import {
  codepointFlags,
  codepointsOf,
  isWhitespace,
  stringFromCodepoints,
  toLowerCodepoint,
} from './unicode-properties.js';
import { wpmEncode } from './wpm-encoder.js';

const ESCAPED_SPACE = '\u2581';
const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);
// A leading U+FEFF is text the model produced, not a byte order mark to drop.
const utf8Decoder = () => new TextDecoder('utf-8', { ignoreBOM: true });

export class LlamaCppTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly eogIds: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;

  private readonly byteTokens: ByteTokens;
  private readonly preTokenizer: PreTokenizer | undefined;
  // Piece bytes per token, rendered as if special tokens were shown; built on first use.
  private readonly pieces: (Uint8Array | undefined)[];

  constructor(readonly vocabulary: LlamaVocabulary) {
    this.vocabSize = vocabulary.tokens.length;
    if (vocabulary.special.bos !== undefined) this.bosId = vocabulary.special.bos;
    if (vocabulary.special.eos !== undefined) this.eosId = vocabulary.special.eos;
    this.eogIds = vocabulary.eogIds;
    this.addBos = vocabulary.addBos;
    this.addEos = vocabulary.addEos;
    this.addSpacePrefix = vocabulary.addSpacePrefix;
    this.byteTokens = new ByteTokens(vocabulary);
    this.preTokenizer = vocabulary.preTokenizer ? new PreTokenizer(vocabulary.preTokenizer.type) : undefined;
    this.pieces = new Array<Uint8Array | undefined>(this.vocabSize);
  }

  tokenText(id: number): string | undefined {
    return this.vocabulary.tokens[id];
  }

  tokenId(text: string): number | undefined {
    return this.vocabulary.tokenToId.get(text);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const v = this.vocabulary;
    const out: number[] = [];
    const fragments = partitionSpecialTokens(v, text, options.parseSpecial ?? false);
    switch (v.kind) {
      case 'spm': {
        if (addSpecial && v.addBos) out.push(v.special.bos!);
        // The dummy prefix goes before the text and before text that follows a special token.
        let prevSpecial = true;
        for (const f of fragments) {
          if (f.kind === 'token') {
            out.push(f.id);
            prevSpecial = true;
            continue;
          }
          let piece = text.slice(f.start, f.end);
          if (v.addSpacePrefix && prevSpecial) piece = ' ' + piece;
          spmEncode(v, this.byteTokens, piece.replaceAll(' ', ESCAPED_SPACE), out);
          prevSpecial = false;
        }
        if (addSpecial && v.addEos) out.push(v.special.eos!);
        break;
      }
      case 'bpe': {
        if (addSpecial && v.addBos) out.push(v.special.bos!);
        for (const f of fragments) {
          if (f.kind === 'token') {
            out.push(f.id);
            continue;
          }
          let piece = text.slice(f.start, f.end);
          if (v.escapeWhitespaces) piece = piece.replaceAll(' ', ESCAPED_SPACE);
          if (v.model === 'whitespace') this.encodeWhitespaceSeparated(piece, out);
          else bpeEncode(v, this.preTokenizer!, piece, out);
        }
        if (addSpecial && v.addEos) out.push(v.special.eos!);
        break;
      }
      case 'wpm': {
        if (addSpecial && v.special.bos !== undefined) out.push(v.special.bos);
        for (const f of fragments) {
          if (f.kind === 'token') out.push(f.id);
          else wpmEncode(v, text.slice(f.start, f.end), out);
        }
        if (addSpecial && v.special.sep !== undefined) out.push(v.special.sep);
        break;
      }
    }
    return out;
  }

  /** tokenizer.ggml.model "whitespace": every run of non-whitespace is BPE-encoded on its own. */
  private encodeWhitespaceSeparated(text: string, out: number[]): void {
    const lowercase = this.vocabulary.normalizerLowercase;
    let segment: number[] = [];
    const flush = () => {
      if (segment.length > 0)
        bpeEncode(this.vocabulary, this.preTokenizer!, stringFromCodepoints(segment), out);
      segment = [];
    };
    for (const cpt of codepointsOf(text)) {
      if (isWhitespace(codepointFlags(cpt))) flush();
      else segment.push(lowercase ? toLowerCodepoint(cpt) : cpt);
    }
    flush();
  }

  /** Bytes of a token as llama.cpp's token_to_piece writes it with special tokens shown. */
  private piece(id: number): Uint8Array {
    let bytes = this.pieces[id];
    if (bytes === undefined) {
      bytes = this.renderPiece(id);
      this.pieces[id] = bytes;
    }
    return bytes;
  }

  private renderPiece(id: number): Uint8Array {
    const v = this.vocabulary;
    const text = v.tokens[id];
    if (text === undefined) return EMPTY;
    const attr = v.attrs[id]!;
    if (attr & (TokenAttr.unknown | TokenAttr.control | TokenAttr.userDefined)) return utf8.encode(text);
    if (attr & TokenAttr.normal) {
      if (v.kind === 'bpe' && !v.escapeWhitespaces) return byteLevelDecode(text);
      return utf8.encode(text.replaceAll(ESCAPED_SPACE, ' '));
    }
    if (attr & TokenAttr.byte) return Uint8Array.of(Number.parseInt(text.slice(3, 5), 16) || 0);
    // Unused and undefined tokens produce nothing.
    return EMPTY;
  }

  /** A token's bytes for output: hidden control tokens are empty; `strip` drops one leading space. */
  private outputPiece(id: number, renderSpecial: boolean, strip: boolean): Uint8Array {
    if (id < 0 || id >= this.vocabSize) return EMPTY;
    if (!renderSpecial && this.vocabulary.attrs[id]! & (TokenAttr.unknown | TokenAttr.control)) return EMPTY;
    const bytes = this.piece(id);
    return strip && bytes[0] === 0x20 ? bytes.subarray(1) : bytes;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const renderSpecial = options.renderSpecial ?? false;
    const stripLeading = options.stripLeadingSpace ?? this.addSpacePrefix;
    const parts: Uint8Array[] = [];
    let total = 0;
    let prev = options.previousId;
    for (const id of ids) {
      const strip = stripLeading && (prev === undefined || prev === this.bosId);
      const bytes = this.outputPiece(id, renderSpecial, strip);
      parts.push(bytes);
      total += bytes.length;
      prev = id;
    }
    let joined: Uint8Array = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    if (options.cleanUpSpaces ?? this.vocabulary.cleanSpaces) joined = cleanUpTokenizationSpaces(joined);
    return utf8Decoder().decode(joined);
  }

  createStreamDecoder(options: StreamDecoderOptions = {}): StreamDecoder {
    const renderSpecial = options.renderSpecial ?? false;
    const stripLeading = options.stripLeadingSpace ?? this.addSpacePrefix;
    let decoder = utf8Decoder();
    let prev = options.previousId;
    return {
      push: (id: number) => {
        const strip = stripLeading && (prev === undefined || prev === this.bosId);
        prev = id;
        return decoder.decode(this.outputPiece(id, renderSpecial, strip), { stream: true });
      },
      flush: () => {
        const rest = decoder.decode();
        decoder = utf8Decoder();
        prev = options.previousId;
        return rest;
      },
    };
  }
}

/** llama.cpp's clean_spaces passes over the detokenized bytes. */
function cleanUpTokenizationSpaces(text: Uint8Array): Uint8Array {
  const SP = 0x20;
  const APOS = 0x27;
  const t = Uint8Array.from(text);
  // " ?", " !", " .", " ,": drop the space.
  let n = t.length;
  let total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    t[total++] = x;
  }
  // " ' ": a lone apostrophe between spaces loses both spaces.
  n = total;
  total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (x === APOS && i + 1 < n && t[i - 1] === SP && t[i + 1] === SP) {
      total--;
      t[++i] = 0;
    }
    t[total++] = x;
  }
  // " 's", " 'm", " 're", " 've": drop the space.
  n = total;
  total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && x === APOS && i + 1 < n) {
      const x1 = t[i + 1]!;
      if (x1 === 0x73 || x1 === 0x6d) total--;
      else if (i + 2 < n) {
        const x2 = t[i + 2]!;
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--;
      }
    }
    t[total++] = x;
  }
  return t.subarray(0, total);
}
