import { ModelFileError } from '../errors.js';

/** What is wrong with a safetensors file; lets callers branch without parsing messages. */
export type SafetensorsProblem =
  | 'open'
  | 'header-length'
  | 'header-json'
  | 'header-schema'
  | 'tensor-size'
  | 'offsets-out-of-range'
  | 'overlapping-offsets'
  | 'unknown-tensor'
  | 'truncated'
  | 'invalid-input';

/** A safetensors file that breaks the format, or a tensor asked of it that it does not hold. */
export class SafetensorsFormatError extends ModelFileError {
  readonly problem: SafetensorsProblem;

  constructor(path: string, problem: SafetensorsProblem, detail: string, options?: ErrorOptions) {
    super(`${path}: ${detail}`, path);
    this.name = 'SafetensorsFormatError';
    this.problem = problem;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
