/**
 * What went wrong, in words a caller can act on without parsing messages. The CLI maps a code to
 * its exit status and a server to an HTTP status; the names follow gRPC's canonical codes.
 */
export const ERROR_CODES = [
  /** The input is malformed or out of range: a bad file, request, option or shape. */
  'invalid_argument',
  /** A named thing (file, model, sequence, tensor) does not exist. */
  'not_found',
  /** Well-formed, but asks for something this build cannot do (a tensor type, an architecture). */
  'unsupported',
  /** A budget ran out: KV blocks, device memory, a limit of the adapter. */
  'resource_exhausted',
  /** A needed service is missing or gone: no WebGPU adapter, a lost device. */
  'unavailable',
  /** A bug or an unexpected state: nothing the caller can change. */
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The base of every error the packages throw. `code` is stable and machine-readable; the message
 * is for people and names the problem (it never names a command-line flag: the CLI adds those).
 */
export class LlmError extends Error {
  override name = 'LlmError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

const codes: ReadonlySet<string> = new Set(ERROR_CODES);

/**
 * The code of any thrown value: an LlmError's own, `internal` for everything else. Matched by
 * shape as well as by class, so an error from a second copy of this package still counts.
 */
export function errorCodeOf(error: unknown): ErrorCode {
  if (error instanceof LlmError) return error.code;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string' && codes.has(error.code)) {
    return error.code as ErrorCode;
  }
  return 'internal';
}
