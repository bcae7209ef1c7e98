/** What is wrong with a safetensors file; lets callers branch without parsing messages. */
export type SafetensorsProblem =
  | 'open'
  | 'header-length'
  | 'header-json'
  | 'header-schema'
  | 'unsupported-dtype'
  | 'tensor-size'
  | 'offsets-out-of-range'
  | 'overlapping-offsets'
  | 'unknown-tensor'
  | 'truncated'
  | 'invalid-input';

export class SafetensorsFormatError extends Error {
  override readonly name = 'SafetensorsFormatError';

  constructor(
    readonly path: string,
    readonly problem: SafetensorsProblem,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${path}: ${detail}`, options);
  }
}
