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
