/** What is wrong with a Hugging Face model folder; lets callers branch without parsing messages. */
export type HfProblem =
  | 'config-missing'
  | 'config-invalid'
  | 'unsupported-architecture'
  | 'unsupported-feature'
  | 'weights-missing'
  | 'index-invalid'
  | 'tensor-missing'
  | 'tensor-shape'
  | 'tensor-dtype'
  | 'unknown-tensor';

export class HfFormatError extends Error {
  override readonly name = 'HfFormatError';

  constructor(
    readonly path: string,
    readonly problem: HfProblem,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${detail}`, options);
  }
}
