import { LlmError } from '@llm/quant';

/** Bad command-line usage: reported in one line on stderr with exit code 2. */
export class CliUsageError extends LlmError {
  override readonly name = 'CliUsageError';
  constructor(message: string) {
    super('invalid_argument', message);
  }
}
