import { ModelFileError } from '../errors.js';

/** A conversion that cannot be done as asked: unrecognised input, no tokenizer for GGUF, a bad output path. */
export class ModelConvertError extends ModelFileError {
  constructor(problem: string, path: string) {
    super(`${path}: ${problem}`, path);
    this.name = 'ModelConvertError';
  }
}
