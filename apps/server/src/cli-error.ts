/** Bad command-line usage: reported in one line on stderr with exit code 2. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}
