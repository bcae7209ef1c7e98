/**
 * Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) through @huggingface/tokenizers,
 * adapted to the Tokenizer interface.
 */

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import en from 'zod/v4/locales/en.js';
import * as z from 'zod/mini';
import { EOG_TEXTS, eogTextsNotEnding } from './llama-vocabulary.js';
import type {
  DecodeOptions,
  EncodeOptions,
  StreamDecoder,
  StreamDecoderOptions,
  Tokenizer,
} from './tokenizer.js';
import { InvalidVocabularyError } from './tokenizer-errors.js';

const addedTokenSchema = z.looseObject({
  id: z.int().check(z.nonnegative()),
  content: z.string(),
  special: z.optional(z.boolean()),
});

const tokenizerJsonSchema = z.looseObject({
  model: z.looseObject({ type: z.optional(z.string()) }),
  added_tokens: z.optional(z.array(addedTokenSchema)),
});

const tokenSetting = z.nullish(z.union([z.string(), z.looseObject({ content: z.string() })]));

const tokenizerConfigSchema = z.looseObject({
  bos_token: tokenSetting,
  eos_token: tokenSetting,
  clean_up_tokenization_spaces: z.optional(z.boolean()),
});

function parseJson(input: unknown, what: string): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input) as unknown;
  } catch (e) {
    throw new InvalidVocabularyError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

// zod/mini registers no locale; per parse, so that the host's zod configuration is left alone.
const englishMessages = en().localeError;

function check<T>(schema: z.ZodMiniType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input, { error: englishMessages });
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InvalidVocabularyError(
      `${what} is not a tokenizer file: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  return result.data;
}

function settingText(value: z.infer<typeof tokenSetting>): string | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? value : value.content;
}

function indexOfRun(haystack: readonly number[], needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function build(json: Record<string, unknown>, config: Record<string, unknown>): HfTokenizer {
  try {
    return new HfTokenizer(json, config);
  } catch (e) {
    throw new InvalidVocabularyError(`tokenizer.json could not be loaded: ${(e as Error).message}`);
  }
}

/** A tokenizer.json tokenizer. BOS/EOS wrapping is the file's post-processor; the dummy space prefix is its normalizer's. */
export class HfJsonTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly eogIds: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** Handled inside the file's normalizer and decoder; the adapter adds no space of its own. */
  readonly addSpacePrefix = false;

  private readonly full: HfTokenizer;
  // The same tokenizer without special added tokens: their text is then ordinary text.
  private readonly plain: HfTokenizer;
  private readonly prefix: readonly number[];
  private readonly suffix: readonly number[];

  constructor(jsonInput: unknown, configInput: unknown = {}) {
    const json = check(tokenizerJsonSchema, parseJson(jsonInput, 'tokenizer.json'), 'tokenizer.json');
    const config = check(
      tokenizerConfigSchema,
      parseJson(configInput, 'tokenizer_config.json'),
      'tokenizer_config.json',
    );
    const added = json.added_tokens ?? [];
    this.full = build({ ...json, added_tokens: added }, config);
    this.plain = build({ ...json, added_tokens: added.filter((t) => t.special !== true) }, config);

    let maxId = -1;
    for (const id of this.full.get_vocab(true).values()) maxId = Math.max(maxId, id);
    for (const t of added) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;

    // What the post-processor puts around a text, learnt from one probe text.
    const probe = 'a';
    const bare = this.full.encode(probe, { add_special_tokens: false }).ids;
    const wrapped = this.full.encode(probe, { add_special_tokens: true }).ids;
    const at = indexOfRun(wrapped, bare);
    this.prefix = at < 0 ? [] : wrapped.slice(0, at);
    this.suffix = at < 0 ? [] : wrapped.slice(at + bare.length);

    const bos = settingText(config.bos_token);
    const eos = settingText(config.eos_token);
    const bosId = (bos !== undefined ? this.full.token_to_id(bos) : undefined) ?? this.prefix[0];
    const eosId =
      (eos !== undefined ? this.full.token_to_id(eos) : undefined) ?? this.suffix[this.suffix.length - 1];
    if (bosId !== undefined) this.bosId = bosId;
    if (eosId !== undefined) this.eosId = eosId;
    this.addBos = bosId !== undefined && this.prefix.includes(bosId);
    this.addEos = eosId !== undefined && this.suffix.includes(eosId);

    // llama.cpp's set: EOS, and every token (added or in the model's vocabulary) whose text ends a
    // turn in some family, less the texts it takes back out.
    const eogTexts = new Map<string, number>();
    for (const text of EOG_TEXTS) {
      const id = this.full.token_to_id(text);
      if (id !== undefined) eogTexts.set(text, id);
    }
    for (const text of eogTextsNotEnding(new Set(eogTexts.keys()))) eogTexts.delete(text);
    const eog = new Set<number>(eogTexts.values());
    if (eosId !== undefined) eog.add(eosId);
    this.eogIds = eog;
  }

  tokenText(id: number): string | undefined {
    return this.full.id_to_token(id);
  }

  tokenId(text: string): number | undefined {
    return this.full.token_to_id(text);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const tok = options.parseSpecial === true ? this.full : this.plain;
    const ids = text.length === 0 ? [] : tok.encode(text, { add_special_tokens: false }).ids;
    return options.addSpecial === false ? ids : [...this.prefix, ...ids, ...this.suffix];
  }

  private decodeRaw(
    ids: readonly number[],
    renderSpecial: boolean,
    cleanUpSpaces: boolean | undefined,
  ): string {
    if (ids.length === 0) return '';
    return this.full.decode([...ids], {
      skip_special_tokens: !renderSpecial,
      ...(cleanUpSpaces === undefined ? {} : { clean_up_tokenization_spaces: cleanUpSpaces }),
    });
  }

  /** `stripLeadingSpace` does not apply: the file's decoder decides about leading spaces. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const renderSpecial = options.renderSpecial ?? false;
    if (options.previousId === undefined) return this.decodeRaw(ids, renderSpecial, options.cleanUpSpaces);
    // Decode with the preceding token so that its context (no dummy-prefix stripping) applies.
    const head = this.decodeRaw([options.previousId], renderSpecial, options.cleanUpSpaces);
    const all = this.decodeRaw([options.previousId, ...ids], renderSpecial, options.cleanUpSpaces);
    return all.startsWith(head) ? all.slice(head.length) : all;
  }

  createStreamDecoder(options: StreamDecoderOptions = {}): StreamDecoder {
    const renderSpecial = options.renderSpecial ?? false;
    const context = options.previousId === undefined ? [] : [options.previousId];
    // Text-generation-inference's scheme: decode a short window and emit what grew, holding back
    // output that ends in U+FFFD (a character still missing bytes).
    let ids: number[] = [...context];
    let prefixOffset = 0;
    let readOffset = ids.length;
    const step = (final: boolean): string => {
      const before = this.decodeRaw(ids.slice(prefixOffset, readOffset), renderSpecial, false);
      const after = this.decodeRaw(ids.slice(prefixOffset), renderSpecial, false);
      if (after.length > before.length && (final || !after.endsWith('\uFFFD'))) {
        prefixOffset = readOffset;
        readOffset = ids.length;
        return after.slice(before.length);
      }
      return '';
    };
    return {
      push: (id: number) => {
        ids.push(id);
        return step(false);
      },
      flush: () => {
        const rest = step(true);
        ids = [...context];
        prefixOffset = 0;
        readOffset = ids.length;
        return rest;
      },
    };
  }
}

/** A tokenizer from a Hugging Face tokenizer.json (object or JSON text), with its tokenizer_config.json if at hand. */
export function tokenizerFromJson(json: unknown, config?: unknown): HfJsonTokenizer {
  return new HfJsonTokenizer(json, config);
}
