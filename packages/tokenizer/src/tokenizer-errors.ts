import { LlmError, type ErrorCode } from '@llm/quant';

/** Base class of every tokenizer error: a vocabulary that cannot be used as given. */
export class TokenizerError extends LlmError {
  constructor(message: string, code: ErrorCode = 'invalid_argument') {
    super(code, message);
    this.name = 'TokenizerError';
  }
}

/** A vocabulary whose parts disagree or are missing: no token list, duplicate tokens, merges naming unknown tokens. */
export class InvalidVocabularyError extends TokenizerError {
  constructor(problem: string) {
    super(problem);
    this.name = 'InvalidVocabularyError';
  }
}

/** `tokenizer.ggml.pre` names a pre-tokenizer this package does not know. */
export class UnknownPreTokenizerError extends TokenizerError {
  readonly value: string;
  readonly supported: readonly string[];

  constructor(value: string, supported: readonly string[]) {
    super(
      `unknown pre-tokenizer '${value}' (tokenizer.ggml.pre); supported: ${supported.join(', ')}. ` +
        'Convert the model with a llama.cpp version that knows its tokenizer, or load its tokenizer.json.',
    );
    this.name = 'UnknownPreTokenizerError';
    this.value = value;
    this.supported = supported;
  }
}

/** A tokenizer family (`tokenizer.ggml.model`) this package does not implement. */
export class UnsupportedTokenizerError extends TokenizerError {
  readonly model: string;

  constructor(model: string, supported: readonly string[]) {
    super(
      `tokenizer model '${model}' (tokenizer.ggml.model) is not supported; supported: ${supported.join(', ')}`,
      'unsupported',
    );
    this.name = 'UnsupportedTokenizerError';
    this.model = model;
  }
}

/** A tokenizer that cannot drive a model: its ids reach past the model's embedding rows. */
export class TokenizerModelMismatchError extends TokenizerError {
  readonly tokenizerVocabSize: number;
  readonly modelVocabSize: number;

  constructor(message: string, tokenizerVocabSize: number, modelVocabSize: number) {
    super(message);
    this.name = 'TokenizerModelMismatchError';
    this.tokenizerVocabSize = tokenizerVocabSize;
    this.modelVocabSize = modelVocabSize;
  }
}

/**
 * A chat template that cannot be used: its Jinja text does not parse, rendering it failed, or the
 * template itself refused the conversation (`raise_exception("Conversation roles must alternate
 * ...")`). A server answers these with 400: the request or the template must change.
 */
export class ChatTemplateError extends TokenizerError {
  /** Where the template came from (`tokenizer.chat_template`, a file name, `--chat-template`). */
  readonly origin: string;
  /** The problem without the origin: the parser's message, or the text the template raised. */
  readonly detail: string;
  /** True when the template called `raise_exception`: the conversation, not the template, is at fault. */
  readonly raisedByTemplate: boolean;

  constructor(origin: string, detail: string, raisedByTemplate: boolean, options?: ErrorOptions) {
    super(
      raisedByTemplate
        ? `${detail} (raised by the chat template, ${origin})`
        : `chat template (${origin}): ${detail}`,
    );
    this.name = 'ChatTemplateError';
    this.origin = origin;
    this.detail = detail;
    this.raisedByTemplate = raisedByTemplate;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
