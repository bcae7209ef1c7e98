/** Options of `Tokenizer.encode`. */
export interface EncodeOptions {
  /** Add BOS / EOS around the text as the vocabulary asks (`addBos`, `addEos`). Default true. */
  readonly addSpecial?: boolean;
  /**
   * Turn special-token text written in the input (`<|eot_id|>`, `</s>`) into those tokens.
   * Default false: such text is tokenized as ordinary characters, so user text cannot inject
   * control tokens. (User-defined tokens of a GGUF vocabulary are always matched, as in llama.cpp.)
   */
  readonly parseSpecial?: boolean;
}

/** Options of `Tokenizer.decode`. */
export interface DecodeOptions {
  /** Write control tokens (BOS, EOS, `<|im_end|>`, ...) as their text. Default false: they produce nothing. */
  readonly renderSpecial?: boolean;
  /**
   * Drop one leading space from the first piece of the sequence and from a piece that follows BOS
   * (SentencePiece's dummy prefix, as llama2.c's run.c and llama.cpp's detokenizer do).
   * Default: the vocabulary's `addSpacePrefix`.
   */
  readonly stripLeadingSpace?: boolean;
  /**
   * llama.cpp's clean_up_tokenization_spaces (" ," -> ",", " 's" -> "'s", ...).
   * Default: what the vocabulary says (on for most GPT-2-style vocabularies).
   */
  readonly cleanUpSpaces?: boolean;
  /**
   * The token just before `ids` (the prompt's last token when decoding a continuation): the
   * leading-space rule applies to the first piece only when this is BOS or absent.
   */
  readonly previousId?: number;
}

/** Options of `Tokenizer.createStreamDecoder`. */
export type StreamDecoderOptions = Pick<DecodeOptions, 'renderSpecial' | 'stripLeadingSpace' | 'previousId'>;

/**
 * Incremental detokenizer: `push` returns the text that became complete with this token; bytes of a
 * UTF-8 character split over several tokens (byte-fallback `<0xXX>` tokens, byte-level BPE pieces)
 * are held until the character completes. `flush` returns what is left (U+FFFD for an incomplete
 * character) and resets the decoder.
 */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

/** A text <-> token id mapping for one model. */
export interface Tokenizer {
  /** Number of token ids; every id this tokenizer produces is below it. */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  /** Every token that ends generation (EOS, EOT, `<|eot_id|>`, `<|im_end|>`, `<|end|>`, ...). */
  readonly eogIds: ReadonlySet<number>;
  /** `encode` puts BOS first when `addSpecial` is on. */
  readonly addBos: boolean;
  /** `encode` puts EOS last when `addSpecial` is on. */
  readonly addEos: boolean;
  /** SentencePiece dummy prefix: encoding prepends a space, decoding drops it again. */
  readonly addSpacePrefix: boolean;

  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  createStreamDecoder(options?: StreamDecoderOptions): StreamDecoder;

  /** The vocabulary's text of a token (raw: `▁Hello`, `ĠHello`, `<0x0A>`), or undefined outside the vocabulary. */
  tokenText(id: number): string | undefined;
  /** The id of a vocabulary entry by its raw text, or undefined. */
  tokenId(text: string): number | undefined;
}
