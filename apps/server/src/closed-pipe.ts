/**
 * Ends the process quietly when the reader of stdout or stderr goes away (`llm ... | head -1`):
 * an EPIPE is how a pipeline says it has read enough, not a failure worth a stack trace.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }
}
