/**
 * A GGUF vocabulary read the way llama.cpp's `llama_vocab::impl::load` reads it: token attributes,
 * special ids with their per-family defaults, the end-of-generation set, tokens detected by their
 * text, and the per-model attribute fix-ups. Works on vocabulary-only GGUF files.
 */

import { PRE_TOKENIZERS, supportedPreTokenizers, type PreTokenizerEntry } from './pre-tokenizers.js';
import {
  InvalidVocabularyError,
  UnknownPreTokenizerError,
  UnsupportedTokenizerError,
} from './tokenizer-errors.js';

/** llama.cpp's llama_token_attr bits. */
export const TokenAttr = {
  undefined: 0,
  unknown: 1 << 0,
  unused: 1 << 1,
  normal: 1 << 2,
  control: 1 << 3,
  userDefined: 1 << 4,
  byte: 1 << 5,
  normalized: 1 << 6,
  lstrip: 1 << 7,
  rstrip: 1 << 8,
  singleWord: 1 << 9,
} as const;

/** GGUF `tokenizer.ggml.token_type` values (llama_token_type) -> attribute. */
const TOKEN_TYPE_ATTR: Readonly<Record<number, number>> = {
  0: TokenAttr.undefined,
  1: TokenAttr.normal,
  2: TokenAttr.unknown,
  3: TokenAttr.control,
  4: TokenAttr.userDefined,
  5: TokenAttr.unused,
  6: TokenAttr.byte,
};

export type VocabularyKind = 'spm' | 'bpe' | 'wpm';

export interface SpecialTokenIds {
  bos: number | undefined;
  eos: number | undefined;
  eot: number | undefined;
  eom: number | undefined;
  unk: number | undefined;
  sep: number | undefined;
  pad: number | undefined;
  mask: number | undefined;
  fimPre: number | undefined;
  fimSuf: number | undefined;
  fimMid: number | undefined;
  fimPad: number | undefined;
  fimRep: number | undefined;
  fimSep: number | undefined;
}

export interface LlamaVocabulary {
  readonly kind: VocabularyKind;
  /** `tokenizer.ggml.model` as given. */
  readonly model: string;
  /** `tokenizer.ggml.pre` (empty when absent). */
  readonly preName: string;
  readonly preTokenizer: PreTokenizerEntry | undefined;
  readonly tokens: readonly string[];
  readonly scores: Float32Array;
  /** TokenAttr bits per token. */
  readonly attrs: Uint16Array;
  readonly tokenToId: ReadonlyMap<string, number>;
  /** BPE merge ranks keyed `left + ' ' + right`. */
  readonly bpeRanks: ReadonlyMap<string, number>;
  readonly special: Readonly<SpecialTokenIds>;
  readonly eogIds: ReadonlySet<number>;
  /** Control, user-defined and unknown tokens, longest text first (llama.cpp's cache_special_tokens). */
  readonly specialTokens: readonly number[];
  readonly maxTokenLength: number;
  readonly addSpacePrefix: boolean;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSep: boolean;
  readonly ignoreMerges: boolean;
  readonly cleanSpaces: boolean;
  readonly escapeWhitespaces: boolean;
  readonly normalizerLowercase: boolean;
  readonly normalizerStripAccents: boolean;
}

const SUPPORTED_MODELS = ['llama', 'gpt2', 'gemma4', 'whitespace', 'bert'];

/** A metadata value: either a GGUF reader's tagged `{type, value}` or the bare value. */
function unwrap(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && 'type' in value && 'value' in value) {
    return (value as { value: unknown }).value;
  }
  return value;
}

class MetadataView {
  constructor(private readonly metadata: ReadonlyMap<string, unknown>) {}

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  string(key: string): string | undefined {
    const v = unwrap(this.metadata.get(key));
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      throw new InvalidVocabularyError(`${key} must be a string, got ${describe(v)}`);
    return v;
  }

  bool(key: string): boolean | undefined {
    const v = unwrap(this.metadata.get(key));
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new InvalidVocabularyError(`${key} must be a bool, got ${describe(v)}`);
    return v;
  }

  /** A non-negative integer id (GGUF uint32/int32, or a bigint that fits). */
  id(key: string): number | undefined {
    let v = unwrap(this.metadata.get(key));
    if (v === undefined) return undefined;
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new InvalidVocabularyError(`${key} must be an integer token id, got ${describe(v)}`);
    }
    return v;
  }

  strings(key: string): readonly string[] | undefined {
    const v = unwrap(this.metadata.get(key));
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      throw new InvalidVocabularyError(`${key} must be an array of strings, got ${describe(v)}`);
    }
    return v as readonly string[];
  }

  numbers(key: string): ArrayLike<number> | undefined {
    const v = unwrap(this.metadata.get(key));
    if (v === undefined) return undefined;
    if (
      ArrayBuffer.isView(v) &&
      !(v instanceof DataView) &&
      !(v instanceof BigInt64Array || v instanceof BigUint64Array)
    ) {
      return v as unknown as ArrayLike<number>;
    }
    if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
    throw new InvalidVocabularyError(`${key} must be an array of numbers, got ${describe(v)}`);
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

// Token texts llama.cpp recognises (load(): "auto-detect special tokens by text").
const EOT_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '<｜end▁of▁sentence｜>',
  '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_PRE_TEXTS = [
  '<|fim_prefix|>',
  '<fim-prefix>',
  '<fim_prefix>',
  '<｜fim▁begin｜>',
  '<PRE>',
  '▁<PRE>',
  '<|code_prefix|>',
  '<|prefix|>',
];
const FIM_SUF_TEXTS = [
  '<|fim_suffix|>',
  '<fim-suffix>',
  '<fim_suffix>',
  '<｜fim▁hole｜>',
  '<SUF>',
  '▁<SUF>',
  '<|code_suffix|>',
  '<|suffix|>',
];
const FIM_MID_TEXTS = [
  '<|fim_middle|>',
  '<fim-middle>',
  '<fim_middle>',
  '<｜fim▁end｜>',
  '<MID>',
  '▁<MID>',
  '<|code_middle|>',
  '<|middle|>',
];
const FIM_PAD_TEXTS = ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'];
const FIM_REP_TEXTS = ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'];
const FIM_SEP_TEXTS = ['<|file_sep|>'];
export const EOG_TEXTS: readonly string[] = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
];
// gpt-oss: these must always be rendered, so they become user-defined.
const ALWAYS_RENDERED_TEXTS = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

const SPECIAL_ID_KEYS: readonly [keyof SpecialTokenIds, string][] = [
  ['bos', 'tokenizer.ggml.bos_token_id'],
  ['eos', 'tokenizer.ggml.eos_token_id'],
  ['eot', 'tokenizer.ggml.eot_token_id'],
  ['eom', 'tokenizer.ggml.eom_token_id'],
  ['unk', 'tokenizer.ggml.unknown_token_id'],
  // sic: llama.cpp's key name
  ['sep', 'tokenizer.ggml.seperator_token_id'],
  ['pad', 'tokenizer.ggml.padding_token_id'],
  ['mask', 'tokenizer.ggml.mask_token_id'],
  ['fimPre', 'tokenizer.ggml.fim_pre_token_id'],
  ['fimSuf', 'tokenizer.ggml.fim_suf_token_id'],
  ['fimMid', 'tokenizer.ggml.fim_mid_token_id'],
  ['fimPad', 'tokenizer.ggml.fim_pad_token_id'],
  ['fimRep', 'tokenizer.ggml.fim_rep_token_id'],
  ['fimSep', 'tokenizer.ggml.fim_sep_token_id'],
  // deprecated spellings of the FIM ids
  ['fimPre', 'tokenizer.ggml.prefix_token_id'],
  ['fimSuf', 'tokenizer.ggml.suffix_token_id'],
  ['fimMid', 'tokenizer.ggml.middle_token_id'],
];

function noSpecials(): SpecialTokenIds {
  return {
    bos: undefined,
    eos: undefined,
    eot: undefined,
    eom: undefined,
    unk: undefined,
    sep: undefined,
    pad: undefined,
    mask: undefined,
    fimPre: undefined,
    fimSuf: undefined,
    fimMid: undefined,
    fimPad: undefined,
    fimRep: undefined,
    fimSep: undefined,
  };
}

/** Parses `tokenizer.ggml.merges` ("left right" per rank) as llama.cpp does, checking both sides exist. */
function readMerges(merges: readonly string[], tokenToId: ReadonlyMap<string, number>): Map<string, number> {
  const ranks = new Map<string, number>();
  merges.forEach((word, rank) => {
    // llama.cpp splits at the first space after the first character.
    const pos = word.indexOf(' ', 1);
    if (pos === -1) {
      throw new InvalidVocabularyError(
        `tokenizer.ggml.merges[${rank}] ${JSON.stringify(word)} has no space between its two parts`,
      );
    }
    const left = word.slice(0, pos);
    const right = word.slice(pos + 1);
    for (const part of [left, right]) {
      if (!tokenToId.has(part)) {
        throw new InvalidVocabularyError(
          `tokenizer.ggml.merges[${rank}] ${JSON.stringify(word)} names ${JSON.stringify(part)}, which is not in tokenizer.ggml.tokens`,
        );
      }
    }
    // The entry itself is the `left + ' ' + right` key; the first rank of a repeated pair wins
    // (std::unordered_map::emplace).
    if (!ranks.has(word)) ranks.set(word, rank);
  });
  return ranks;
}

export function loadLlamaVocabulary(metadata: ReadonlyMap<string, unknown>): LlamaVocabulary {
  const md = new MetadataView(metadata);
  const model = md.string('tokenizer.ggml.model');
  if (model === undefined) {
    throw new InvalidVocabularyError('tokenizer.ggml.model is missing: the file holds no vocabulary');
  }
  let preName = md.string('tokenizer.ggml.pre') ?? '';

  const tokensIn = md.strings('tokenizer.ggml.tokens');
  if (tokensIn === undefined) {
    throw new InvalidVocabularyError('tokenizer.ggml.tokens is missing: the vocabulary has no token list');
  }
  const numTokens = tokensIn.length;
  if (numTokens === 0) throw new InvalidVocabularyError('tokenizer.ggml.tokens is empty');

  // Per-family defaults (llama_vocab::impl::load, "determine vocab type").
  let kind: VocabularyKind;
  const special = noSpecials();
  let addSpacePrefix = false;
  let addBos = false;
  let addEos = false;
  let addSep = false;
  let ignoreMerges = false;
  let cleanSpaces = false;
  let escapeWhitespaces = true;
  let preTokenizer: PreTokenizerEntry | undefined;
  let mergesRequired = false;

  switch (model) {
    case 'llama':
      kind = 'spm';
      Object.assign(special, { bos: 1, eos: 2, unk: 0 });
      addSpacePrefix = true;
      addBos = true;
      break;
    case 'bert':
      kind = 'wpm';
      Object.assign(special, { bos: 101, unk: 100, sep: 102, pad: 0, mask: 103 });
      cleanSpaces = true;
      addBos = true;
      addSep = true;
      break;
    case 'gpt2':
    case 'whitespace':
      kind = 'bpe';
      // llama.cpp's BPE defaults: BOS and EOS both id 11 until the file says otherwise.
      Object.assign(special, { bos: 11, eos: 11 });
      mergesRequired = preName !== 'kimi-k2';
      break;
    case 'gemma4':
      kind = 'bpe';
      mergesRequired = true;
      preName = 'gemma4';
      break;
    default:
      throw new UnsupportedTokenizerError(model, SUPPORTED_MODELS);
  }

  if (kind === 'bpe') {
    escapeWhitespaces = false;
    cleanSpaces = true;
    const name = preName === '' ? 'default' : preName;
    preTokenizer = PRE_TOKENIZERS.get(name);
    if (preTokenizer === undefined) throw new UnknownPreTokenizerError(name, supportedPreTokenizers());
    if (preTokenizer.cleanSpaces !== undefined) cleanSpaces = preTokenizer.cleanSpaces;
    if (preTokenizer.ignoreMerges) ignoreMerges = true;
    if (preTokenizer.addBos) addBos = true;
    if (preTokenizer.escapeWhitespaces) escapeWhitespaces = true;
    if (preTokenizer.addSep) addSep = true;
    if (preTokenizer.noDefaultBos) special.bos = undefined;
  }

  addSpacePrefix = md.bool('tokenizer.ggml.add_space_prefix') ?? addSpacePrefix;

  const scoresIn = md.numbers('tokenizer.ggml.scores');
  if (scoresIn !== undefined && scoresIn.length < numTokens) {
    throw new InvalidVocabularyError(
      `tokenizer.ggml.scores has ${scoresIn.length} entries for ${numTokens} tokens`,
    );
  }
  const typesIn = md.numbers('tokenizer.ggml.token_type');
  if (typesIn !== undefined && typesIn.length < numTokens) {
    throw new InvalidVocabularyError(
      `tokenizer.ggml.token_type has ${typesIn.length} entries for ${numTokens} tokens`,
    );
  }

  const tokens: string[] = new Array<string>(numTokens);
  const scores = new Float32Array(numTokens);
  const attrs = new Uint16Array(numTokens);
  const tokenToId = new Map<string, number>();
  let maxTokenLength = 0;
  for (let i = 0; i < numTokens; i++) {
    const word = tokensIn[i] === '' ? `[EMPTY_${i}]` : tokensIn[i]!;
    const prev = tokenToId.get(word);
    if (prev !== undefined) {
      throw new InvalidVocabularyError(
        `duplicate token in vocabulary: ${JSON.stringify(word)} has ids ${prev} and ${i}`,
      );
    }
    tokenToId.set(word, i);
    tokens[i] = word;
    maxTokenLength = Math.max(maxTokenLength, utf8Length(word));
    scores[i] = scoresIn?.[i] ?? 0;
    attrs[i] =
      typesIn === undefined ? TokenAttr.normal : (TOKEN_TYPE_ATTR[typesIn[i]!] ?? TokenAttr.undefined);
  }

  let bpeRanks = new Map<string, number>();
  if (kind === 'bpe') {
    const merges = md.strings('tokenizer.ggml.merges');
    if (merges === undefined) {
      if (mergesRequired) {
        throw new InvalidVocabularyError(
          'tokenizer.ggml.merges is missing: a BPE vocabulary needs its merge list',
        );
      }
    } else {
      bpeRanks = readMerges(merges, tokenToId);
    }
  }

  // Special ids: defaults out of range are dropped; file values out of range keep the default.
  for (const [field, key] of SPECIAL_ID_KEYS) {
    const current = special[field];
    if (current !== undefined && current >= numTokens) special[field] = undefined;
    const fromFile = md.id(key);
    if (fromFile !== undefined && fromFile >= 0 && fromFile < numTokens) special[field] = fromFile;
  }

  addBos = md.bool('tokenizer.ggml.add_bos_token') ?? addBos;
  addEos = md.bool('tokenizer.ggml.add_eos_token') ?? addEos;
  addSep = md.bool('tokenizer.ggml.add_sep_token') ?? addSep;
  // llama.cpp forces BOS for Gemma 4 whatever the file says.
  if (preTokenizer?.type.id === 'gemma4') addBos = true;
  for (const [flag, on, id, what] of [
    ['add_bos_token', addBos, special.bos, 'bos_token_id'],
    ['add_eos_token', addEos, special.eos, 'eos_token_id'],
    ['add_sep_token', addSep, special.sep, 'seperator_token_id'],
  ] as const) {
    if (on && id === undefined) {
      throw new InvalidVocabularyError(
        `tokenizer.ggml.${flag} is true, but tokenizer.ggml.${what} is not set`,
      );
    }
  }

  // BertNormalizer options; the whitespace pre-tokenizer (jina-embeddings-v2-base-zh) keeps case.
  const normalizerLowercase = md.bool('tokenizer.ggml.normalizer.lowercase') ?? preName !== 'whitespace';
  const normalizerStripAccents = md.bool('tokenizer.ggml.normalizer.strip_accents') ?? normalizerLowercase;

  const markControl = (id: number) => {
    attrs[id] = attrs[id]! | TokenAttr.control;
  };
  // The first vocabulary entry (lowest id) among the texts llama.cpp looks for.
  const detect = (field: keyof SpecialTokenIds, texts: readonly string[]) => {
    if (special[field] !== undefined) return;
    let found: number | undefined;
    for (const text of texts) {
      const id = tokenToId.get(text);
      if (id !== undefined && (found === undefined || id < found)) found = id;
    }
    if (found !== undefined) {
      special[field] = found;
      markControl(found);
    }
  };
  detect('eot', EOT_TEXTS);
  detect('eom', EOM_TEXTS);
  detect('fimPre', FIM_PRE_TEXTS);
  detect('fimSuf', FIM_SUF_TEXTS);
  detect('fimMid', FIM_MID_TEXTS);
  detect('fimPad', FIM_PAD_TEXTS);
  detect('fimRep', FIM_REP_TEXTS);
  detect('fimSep', FIM_SEP_TEXTS);

  // Control tokens named "unused" are unused.
  for (let id = 0; id < numTokens; id++) {
    if (attrs[id]! & TokenAttr.control && tokens[id]!.includes('unused'))
      attrs[id] = attrs[id]! | TokenAttr.unused;
  }

  const eog = new Set<number>();
  for (const id of [special.fimPad, special.fimRep, special.fimSep]) if (id !== undefined) eog.add(id);
  for (const text of EOG_TEXTS) {
    const id = tokenToId.get(text);
    if (id !== undefined) {
      eog.add(id);
      markControl(id);
    }
  }
  for (const text of ALWAYS_RENDERED_TEXTS) {
    const id = tokenToId.get(text);
    if (id !== undefined) attrs[id] = TokenAttr.userDefined;
  }
  for (const id of [special.eos, special.eot, special.eom]) if (id !== undefined) eog.add(id);

  const textOf = (id: number) => tokens[id]!;
  for (const text of eogTextsNotEnding(new Set([...eog].map(textOf)))) {
    const id = tokenToId.get(text)!;
    eog.delete(id);
    // <|end|> must still be written out; </s> becomes an ordinary piece.
    attrs[id] = text === '<|end|>' ? TokenAttr.userDefined : TokenAttr.normal;
  }

  const specialTokens: number[] = [];
  for (let id = 0; id < numTokens; id++) {
    if (attrs[id]! & (TokenAttr.control | TokenAttr.userDefined | TokenAttr.unknown)) specialTokens.push(id);
  }
  // Longest first; equal lengths by id so the order does not depend on a hash map.
  specialTokens.sort((a, b) => utf8Length(tokens[b]!) - utf8Length(tokens[a]!) || a - b);

  applyModelAttrFixups(md, tokenToId, attrs, specialTokens, preName);

  return {
    kind,
    model,
    preName,
    preTokenizer,
    tokens,
    scores,
    attrs,
    tokenToId,
    bpeRanks,
    special,
    eogIds: eog,
    specialTokens,
    maxTokenLength,
    addSpacePrefix,
    addBos,
    addEos,
    addSep,
    ignoreMerges,
    cleanSpaces,
    escapeWhitespaces,
    normalizerLowercase,
    normalizerStripAccents,
  };
}

/** llama.cpp's per-model lstrip/rstrip attributes, chosen by model name, pre-tokenizer and architecture. */
function applyModelAttrFixups(
  md: MetadataView,
  tokenToId: ReadonlyMap<string, number>,
  attrs: Uint16Array,
  specialTokens: readonly number[],
  preName: string,
): void {
  const modelName = (md.string('general.name') ?? '').toLowerCase();
  const arch = md.string('general.architecture') ?? '';
  const containsAny = (s: string, parts: readonly string[]) => parts.some((p) => s.includes(p));
  const set = (id: number | undefined, attr: number, on: boolean) => {
    if (id === undefined) return;
    attrs[id] = on ? attrs[id]! | attr : attrs[id]! & ~attr;
  };
  if (
    containsAny(preName, ['jina-v2-de', 'jina-v2-es', 'jina-v2-code']) ||
    containsAny(arch, ['nomic-bert-moe', 'jina-bert-v3'])
  ) {
    set(tokenToId.get('<mask>'), TokenAttr.lstrip, true);
  } else if (containsAny(modelName, ['phi-3', 'phi3'])) {
    for (const id of specialTokens) set(id, TokenAttr.rstrip, true);
    set(tokenToId.get('</s>'), TokenAttr.rstrip, true);
    for (const text of ['<unk>', '<s>', '<|endoftext|>']) set(tokenToId.get(text), TokenAttr.rstrip, false);
  } else if (containsAny(modelName, ['modern-bert'])) {
    set(tokenToId.get('[MASK]'), TokenAttr.lstrip, true);
  }
}

/**
 * Texts that llama.cpp takes back out of an end-of-generation set: o200k_harmony / solar-open's
 * <|end|> closes a message, not the generation; with Gemma 4 / PaddleOCR's <|tool_response>,
 * </s> is not an end either.
 */
export function eogTextsNotEnding(eogTexts: ReadonlySet<string>): string[] {
  const drop: string[] = [];
  const has = (t: string) => eogTexts.has(t);
  const call = has('<|call|>') || has('<|calls|>');
  if (has('<|end|>') && ((has('<|return|>') && call) || (call && has('<|flush|>')))) drop.push('<|end|>');
  if (has('<|tool_response>') && has('</s>')) drop.push('</s>');
  return drop;
}

/** UTF-8 byte length of a well-formed string. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
