import { errorCodeOf, LlmError, type ErrorCode } from '@llm/quant';

/** The body of every error answer: OpenAI's shape, so that its SDKs raise typed errors. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface ServerErrorOptions extends ErrorOptions {
  /** The request field at fault, as a path (`messages[0].content`). */
  readonly param?: string;
  /** OpenAI's `error.code`; default: the LlmError code. */
  readonly apiCode?: string;
  /** HTTP status; default: the one of `code`. */
  readonly status?: number;
}

// gRPC-style codes to HTTP, as the table: bad input is never a 500.
const STATUS_OF_CODE: Record<ErrorCode, number> = {
  invalid_argument: 400,
  not_found: 404,
  unsupported: 400,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};

function typeOfStatus(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** An error answered with an HTTP status and an OpenAI error object. */
export class ServerError extends LlmError {
  override readonly name = 'ServerError';
  readonly status: number;
  readonly param: string | undefined;
  readonly apiCode: string;

  constructor(code: ErrorCode, message: string, options: ServerErrorOptions = {}) {
    super(code, message, options);
    this.status = options.status ?? STATUS_OF_CODE[code];
    this.param = options.param;
    this.apiCode = options.apiCode ?? code;
  }

  /**
   * Any thrown value as a ServerError: one with a known `code` (an LlmError, or an error of that
   * shape from another copy of @llm/quant) keeps its message; anything else is an internal error.
   */
  static from(error: unknown): ServerError {
    if (error instanceof ServerError) return error;
    const code = errorCodeOf(error);
    const message =
      code === 'internal'
        ? `internal error: ${error instanceof Error ? error.message : String(error)}`
        : (error as Error).message;
    return new ServerError(code, message, { cause: error });
  }

  body(): OpenAiErrorBody {
    return {
      error: {
        message: this.message,
        type: typeOfStatus(this.status),
        param: this.param ?? null,
        code: this.apiCode,
      },
    };
  }
}
