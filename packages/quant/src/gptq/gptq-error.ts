import { LlmError, type ErrorCode } from '../llm-error.js';

/**
 * What GPTQ cannot do with its input: a type without a grid (`unsupported`), rows that are not
 * whole blocks, a bad group or batch, non-finite weights, a Hessian that is not positive definite
 * (`invalid_argument`). The message says what to change.
 */
export class GptqError extends LlmError {
  override readonly name = 'GptqError';

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}
