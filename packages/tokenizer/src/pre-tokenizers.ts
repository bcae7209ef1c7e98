/**
 * The BPE pre-tokenizers llama.cpp recognises (src/llama-vocab.cpp, `llm_tokenizer_bpe` and the
 * `tokenizer.ggml.pre` name table of `llama_vocab::impl::load`), with their split expressions
 * written exactly as llama.cpp passes them to `unicode_regex_split`.
 *
 * A pre-tokenizer is a list of steps applied one after the other: each step splits every piece the
 * previous steps produced, keeping the text between matches as pieces of its own. Four of
 * llama.cpp's expressions are served by hand-written splitters there (and here): GPT-2's, Llama 3's,
 * Kimi-K2's and AFMoE's digit grouping.
 */

export type SplitStep =
  | { readonly kind: 'gpt2' }
  | { readonly kind: 'llama3' }
  | { readonly kind: 'kimi-k2' }
  | { readonly kind: 'afmoe-digits' }
  | { readonly kind: 'regex'; readonly source: string };

export interface PreTokenizerType {
  /** llama.cpp's LLAMA_VOCAB_PRE_TYPE_* name, lower case. */
  readonly id: string;
  readonly steps: readonly SplitStep[];
  /** False for SentencePiece-style BPE vocabularies that hold raw UTF-8 rather than GPT-2 byte characters. */
  readonly byteEncode: boolean;
}

const GPT2: SplitStep = { kind: 'gpt2' };
const LLAMA3: SplitStep = { kind: 'llama3' };
const re = (source: string): SplitStep => ({ kind: 'regex', source });

// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` spelled without the inline flag, which ECMAScript lacks.
const CONTRACTIONS = String.raw`'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]`;
const QWEN2_EXPR = String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const ASCII_PUNCT_WORD = String.raw`[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + '`' + String.raw`{|}~][A-Za-z]+`;
const CJK_KANA = '[一-龥぀-ゟ゠-ヿ]+';
const BLOOM_EXPR = String.raw` ?[^(\s|.,!?…。，、।۔،)]+`;

function preType(id: string, steps: readonly SplitStep[], byteEncode = true): PreTokenizerType {
  return { id, steps, byteEncode };
}

const T = {
  default: preType('default', [
    re(String.raw`[\p{P}\$\+<=>\^~\|]+`),
    GPT2,
    re(String.raw`\p{N}+`),
    re('[0-9][0-9][0-9]'),
  ]),
  llama3: preType('llama3', [LLAMA3]),
  jais2: preType('jais2', [
    re(
      String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}`,
    ),
  ]),
  dbrx: preType('dbrx', [LLAMA3]),
  smaug: preType('smaug', [LLAMA3]),
  'deepseek-llm': preType('deepseek-llm', [
    re('[\r\n]'),
    re(
      String.raw`\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`,
    ),
    re(String.raw`\s?[!-/:-~！-／：-～‘-‟　-。]+`),
    re(String.raw`\s+$`),
    re('[一-龥ࠀ-一가-퟿]+'),
    re(String.raw`\p{N}+`),
  ]),
  'deepseek3-llm': preType('deepseek3-llm', [
    re(String.raw`\p{N}{1,3}`),
    re(CJK_KANA),
    re(
      ASCII_PUNCT_WORD +
        String.raw`|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  'spark2-5': preType('spark2-5', [
    re(String.raw`\p{N}{1,3}`),
    re(CJK_KANA),
    re(
      ASCII_PUNCT_WORD +
        String.raw`|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+`,
    ),
    re(String.raw`\p{N}`),
  ]),
  youtu: preType('youtu', [
    re('[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+'),
    re(
      String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:${CONTRACTIONS})?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:${CONTRACTIONS})?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  'deepseek-coder': preType('deepseek-coder', [
    re('[\r\n]'),
    re(String.raw`\s?\p{L}+`),
    re(String.raw`\s?\p{P}+`),
    re('[一-龥ࠀ-一가-퟿]+'),
    re(String.raw`\p{N}`),
  ]),
  falcon: preType('falcon', [re(String.raw`[\p{P}\$\+<=>\^~\|` + '`]+'), GPT2, re('[0-9][0-9][0-9]')]),
  // starcoder, refact, command-r, smollm, codeshell, exaone, minerva, mellum2 share one splitter.
  starcoder: preType('starcoder', [re(String.raw`\p{N}`), GPT2]),
  // gpt-2, mpt, olmo, jais, trillion, granite-docling share one splitter.
  gpt2: preType('gpt2', [GPT2]),
  // stablelm2, qwen2, hunyuan, solar-open, grok-2 share Qwen2's expression.
  qwen2: preType('qwen2', [re(QWEN2_EXPR)]),
  qwen35: preType('qwen35', [
    re(
      String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  // poro, bloom, gpt3-finnish.
  bloom: preType('bloom', [re(BLOOM_EXPR)]),
  chatglm4: preType('chatglm4', [LLAMA3]),
  viking: preType('viking', [re(BLOOM_EXPR), re(String.raw`\p{N}`)]),
  tekken: preType('tekken', [
    re(
      String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  chameleon: preType('chameleon', [
    re('<sentinel:[0-9]+>'),
    re('(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z'),
    re(String.raw`([\t\n]|    |  )`),
    re(String.raw`\p{N}`),
    re(String.raw`[\p{P}!-/:-@\[-` + '`' + '{-~]'),
    GPT2,
  ]),
  // gpt-4o, llama4, minimax-m2 and others.
  gpt4o: preType('gpt4o', [
    re(
      String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:${CONTRACTIONS})?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:${CONTRACTIONS})?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  'granite-emb-multi': preType('granite-emb-multi', [
    re(
      String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:${CONTRACTIONS})?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:${CONTRACTIONS})?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  'tiny-aya': preType('tiny-aya', [
    re(String.raw`\d{1,3}(?=(?:\d{3})*\b)`),
    re(
      String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:${CONTRACTIONS})?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:${CONTRACTIONS})?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  'kimi-k2': preType('kimi-k2', [{ kind: 'kimi-k2' }]),
  superbpe: preType('superbpe', [re(String.raw`\p{N}+`), re(String.raw`(?=(\d{3})+(?!\d))`)]),
  bailingmoe: preType('bailingmoe', [
    re(
      String.raw`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`,
    ),
  ]),
  'seed-coder': preType('seed-coder', [
    re(
      String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  ufakzeka: preType('ufakzeka', [
    re(String.raw`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`),
  ]),
  afmoe: preType('afmoe', [
    { kind: 'afmoe-digits' },
    re('[一-鿿㐀-䶿\uF900-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+'),
    re(
      ASCII_PUNCT_WORD +
        String.raw`|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
  laguna: preType('laguna', [re(String.raw`[^\n]+|[\n]+`), re(QWEN2_EXPR)]),
  'exaone-moe': preType('exaone-moe', [
    re(
      String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`,
    ),
  ]),
  // Gemma 4 and Sarvam: spaces become U+2581 before splitting; only newlines split words.
  gemma4: preType('gemma4', [re(String.raw`[^\n]+|[\n]+`)], false),
  'sarvam-moe': preType('sarvam-moe', [re(String.raw`[^\n]+|[\n]+`)], false),
  // jina-embeddings-v2-base-zh: words are the runs of non-space characters, in raw UTF-8.
  whitespace: preType('whitespace', [re(String.raw`\S+`)], false),
  minicpm5: preType('minicpm5', [
    re(String.raw`\p{N}{1,3}`),
    re(
      String.raw`(?:${CONTRACTIONS})|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ),
  ]),
} satisfies Record<string, PreTokenizerType>;

/** Per-name vocabulary flags llama.cpp sets next to the pre-tokenizer type. */
export interface PreTokenizerEntry {
  readonly type: PreTokenizerType;
  /** clean_up_tokenization_spaces on decode; llama.cpp's BPE default is true. */
  readonly cleanSpaces?: boolean;
  /** A whole pre-tokenized word that is a token is emitted without merging. */
  readonly ignoreMerges?: boolean;
  /** Default of add_bos_token when the file does not say. */
  readonly addBos?: boolean;
  /** Spaces are written U+2581 in the vocabulary (SentencePiece-style BPE). */
  readonly escapeWhitespaces?: boolean;
  /** chatglm-bpe / glm4 have no BOS token unless the file names one. */
  readonly noDefaultBos?: boolean;
  /** A SEP token is appended to encoded text (embedding models); recorded, not used by encode. */
  readonly addSep?: boolean;
}

const entry = (type: PreTokenizerType, flags: Omit<PreTokenizerEntry, 'type'> = {}): PreTokenizerEntry => ({
  type,
  ...flags,
});
const keepSpaces = { cleanSpaces: false } as const;

/** `tokenizer.ggml.pre` value -> pre-tokenizer, in llama.cpp's order. */
export const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizerEntry> = new Map<string, PreTokenizerEntry>([
  ['default', entry(T.default)],
  ['minicpm5', entry(T.minicpm5, { ignoreMerges: true })],
  ...[
    'llama3',
    'llama-v3',
    'llama-bpe',
    'falcon3',
    'falcon-h1',
    'pixtral',
    'midm-2.0',
    'lfm2',
    'jina-v5-nano',
  ].map((n) => [n, entry(T.llama3, { ignoreMerges: true, addBos: true })] as const),
  ['deepseek-llm', entry(T['deepseek-llm'], keepSpaces)],
  ['deepseek-coder', entry(T['deepseek-coder'], keepSpaces)],
  ['deepseek-v3', entry(T['deepseek3-llm'], keepSpaces)],
  ['spark2_5', entry(T['spark2-5'], keepSpaces)],
  ['youtu', entry(T.youtu, { cleanSpaces: false, ignoreMerges: true })],
  ['falcon', entry(T.falcon)],
  ['mpt', entry(T.gpt2)],
  ['starcoder', entry(T.starcoder)],
  ...[
    'gpt-2',
    'phi-2',
    'jina-es',
    'jina-de',
    'gigachat',
    'jina-v2-es',
    'jina-v2-de',
    'a.x-4.0',
    'mellum',
    'modern-bert',
  ].map((n) => [n, entry(T.gpt2)] as const),
  ['jais-2', entry(T.jais2)],
  ...['gemma4', 'granite-embed-multi-311m'].map(
    (n) => [n, entry(T.gemma4, { escapeWhitespaces: true })] as const,
  ),
  ['sarvam-moe', entry(T['sarvam-moe'], { escapeWhitespaces: true, cleanSpaces: false })],
  ...['jina-v1-en', 'jina-v2-code', 'roberta-bpe'].map((n) => [n, entry(T.gpt2, { addSep: true })] as const),
  ['whitespace', entry(T.whitespace)],
  ['refact', entry(T.starcoder)],
  ['command-r', entry(T.starcoder, keepSpaces)],
  ...['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2'].map((n) => [n, entry(T.qwen2, keepSpaces)] as const),
  ['qwen35', entry(T.qwen35, keepSpaces)],
  ['stablelm2', entry(T.qwen2)],
  ['olmo', entry(T.gpt2)],
  ['dbrx', entry(T.dbrx)],
  ['smaug-bpe', entry(T.smaug)],
  ['poro-chat', entry(T.bloom, keepSpaces)],
  ...['glm4', 'chatglm-bpe'].map((n) => [n, entry(T.chatglm4, { noDefaultBos: true })] as const),
  ['viking', entry(T.viking, keepSpaces)],
  ['jais', entry(T.gpt2)],
  ['tekken', entry(T.tekken, { cleanSpaces: false, ignoreMerges: true, addBos: true })],
  ['smollm', entry(T.starcoder, keepSpaces)],
  ['codeshell', entry(T.starcoder)],
  ['bloom', entry(T.bloom)],
  ['gpt3-finnish', entry(T.bloom)],
  ['exaone', entry(T.starcoder)],
  ['exaone4', entry(T.gpt2)],
  ['exaone-moe', entry(T['exaone-moe'])],
  ['chameleon', entry(T.chameleon, { addBos: true, cleanSpaces: false })],
  ['minerva-7b', entry(T.starcoder)],
  ['megrez', entry(T.qwen2)],
  ...['gpt-4o', 'llama4', 'kanana2', 'talkie'].map((n) => [n, entry(T.gpt4o, keepSpaces)] as const),
  ['granite-embed-multi-97m', entry(T['granite-emb-multi'], { cleanSpaces: false, ignoreMerges: true })],
  ...['tiny_aya', 'cohere2moe'].map((n) => [n, entry(T['tiny-aya'], keepSpaces)] as const),
  ['superbpe', entry(T.superbpe, keepSpaces)],
  ['trillion', entry(T.gpt2, keepSpaces)],
  ['granite-docling', entry(T.gpt2, keepSpaces)],
  ...['bailingmoe', 'bailingmoe2', 'llada-moe'].map((n) => [n, entry(T.bailingmoe, keepSpaces)] as const),
  ['seed-coder', entry(T['seed-coder'], keepSpaces)],
  ['hunyuan', entry(T.qwen2, keepSpaces)],
  ['hunyuan-dense', entry(T['deepseek3-llm'], keepSpaces)],
  ['hy_v4', entry(T['deepseek3-llm'], keepSpaces)],
  ['joyai-llm', entry(T['deepseek3-llm'], keepSpaces)],
  ['kimi-k2', entry(T['kimi-k2'], keepSpaces)],
  ['ufakzeka', entry(T.ufakzeka, keepSpaces)],
  ['grok-2', entry(T.qwen2, keepSpaces)],
  ['afmoe', entry(T.afmoe, keepSpaces)],
  ['laguna', entry(T.laguna, keepSpaces)],
  ['minimax-m2', entry(T.gpt4o, keepSpaces)],
  ['solar-open', entry(T.qwen2, keepSpaces)],
  ['mellum2', entry(T.starcoder)],
]);

/** The `tokenizer.ggml.pre` values this package accepts, for error messages. */
export function supportedPreTokenizers(): string[] {
  return [...PRE_TOKENIZERS.keys()];
}
