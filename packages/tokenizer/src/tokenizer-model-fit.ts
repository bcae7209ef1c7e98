import type { Tokenizer } from './tokenizer.js';
import { TokenizerModelMismatchError } from './tokenizer-errors.js';

/**
 * Throws unless every id the tokenizer can produce has a row in the model's embedding table.
 * A model may have more rows than the vocabulary (padding to a multiple of 64/128 is common);
 * fewer rows mean the tokenizer belongs to another model.
 */
export function checkTokenizerFitsModel(tokenizer: Tokenizer, modelVocabSize: number): void {
  if (!Number.isInteger(modelVocabSize) || modelVocabSize <= 0) {
    throw new TokenizerModelMismatchError(
      `model vocabulary size must be a positive integer, got ${modelVocabSize}`,
      tokenizer.vocabSize,
      modelVocabSize,
    );
  }
  if (tokenizer.vocabSize > modelVocabSize) {
    throw new TokenizerModelMismatchError(
      `tokenizer has ${tokenizer.vocabSize} tokens but the model has only ${modelVocabSize} embedding rows: ` +
        'this tokenizer belongs to a different model; load the tokenizer that ships with the weights',
      tokenizer.vocabSize,
      modelVocabSize,
    );
  }
}
