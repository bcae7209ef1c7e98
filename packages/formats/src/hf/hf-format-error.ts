import { ModelFileError } from '../errors.js';

/** What is wrong with a Hugging Face model folder; lets callers branch without parsing messages. */
export type HfProblem =
  | 'config-missing'
  | 'config-invalid'
  | 'weights-missing'
  | 'index-invalid'
  | 'tensor-missing'
  | 'tensor-shape'
  | 'unknown-tensor'
  | 'tokenizer-invalid';

/** A Hugging Face folder whose config.json, index or tensors are missing or disagree. */
export class HfFormatError extends ModelFileError {
  readonly problem: HfProblem;

  constructor(path: string, problem: HfProblem, detail: string, options?: ErrorOptions) {
    super(`${path}: ${detail}`, path);
    this.name = 'HfFormatError';
    this.problem = problem;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
