import { LlmError, type ErrorCode } from '@llm/quant';

/**
 * Errors raised while reading or writing model files. Every malformed input ends in one of these,
 * never in a RangeError from a DataView or an out-of-memory allocation.
 */
export class ModelFileError extends LlmError {
  /** File the problem was found in. */
  readonly path: string;

  constructor(message: string, path: string, code: ErrorCode = 'invalid_argument') {
    super(code, message);
    this.name = 'ModelFileError';
    this.path = path;
  }
}

/** A GGUF file that breaks the format: truncated, oversized counts, bad offsets, wrong value types. */
export class GgufFormatError extends ModelFileError {
  /** Byte offset in the file where the problem was found, when it has one (not for a missing key). */
  readonly offset: number | undefined;

  constructor(problem: string, path: string, offset?: number) {
    super(offset === undefined ? `${path}: ${problem}` : `${path}: ${problem} (at byte ${offset})`, path);
    this.name = 'GgufFormatError';
    this.offset = offset;
  }
}

/** A llama2.c checkpoint or tokenizer.bin whose header or size does not make sense. */
export class Llama2cFormatError extends ModelFileError {
  constructor(problem: string, path: string) {
    super(`${path}: ${problem}`, path);
    this.name = 'Llama2cFormatError';
  }
}

/**
 * A well-formed file that holds something this engine cannot run yet: a quantized tensor type, an
 * architecture outside the Llama family, a RoPE scaling scheme.
 */
export class UnsupportedModelError extends ModelFileError {
  constructor(problem: string, path: string) {
    super(`${path}: ${problem}`, path, 'unsupported');
    this.name = 'UnsupportedModelError';
  }
}
