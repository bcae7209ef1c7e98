import { LlmError, type ErrorCode } from '@llm/quant';

/**
 * Why a model reference could not be resolved, finer than the error code:
 * - `bad-reference`: the string is neither an existing path, a URL nor `owner/repo[...]`;
 * - `not-found`: a repository, revision, file or quantization that does not exist (the message
 *   lists what does);
 * - `access-denied`: 401/403, a gated or private repository (the message says to set HF_TOKEN);
 * - `not-cached`: offline, and the reference was never downloaded completely;
 * - `network`: no connection, or it broke mid-download (the partial file stays, to be resumed);
 * - `http`: any other unexpected answer from the server;
 * - `verification`: the downloaded bytes do not match the size or hash the server announced.
 */
export type ModelDownloadProblem =
  'bad-reference' | 'not-found' | 'access-denied' | 'not-cached' | 'network' | 'http' | 'verification';

const codeOf: Readonly<Record<ModelDownloadProblem, ErrorCode>> = {
  'bad-reference': 'invalid_argument',
  'not-found': 'not_found',
  'access-denied': 'not_found',
  // The network is the missing service in these: running again (online, or later) can succeed.
  'not-cached': 'unavailable',
  network: 'unavailable',
  http: 'unavailable',
  verification: 'unavailable',
};

/** A model reference (path, URL, Hugging Face repository) that could not be resolved to local files. */
export class ModelDownloadError extends LlmError {
  /** The reference as the caller wrote it. */
  readonly reference: string;
  readonly problem: ModelDownloadProblem;

  constructor(reference: string, problem: ModelDownloadProblem, message: string, options?: ErrorOptions) {
    super(codeOf[problem], `${reference}: ${message}`, options);
    this.name = 'ModelDownloadError';
    this.reference = reference;
    this.problem = problem;
  }
}
