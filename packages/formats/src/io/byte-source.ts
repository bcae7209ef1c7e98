import type { ErrorCode } from '@llm/quant';
import { ModelFileError } from '../errors.js';

/**
 * Random access to the bytes of a model file wherever they live: a local file, a Blob or File in a
 * browser, a URL read with HTTP range requests. Readers only ever ask for the ranges they parse,
 * so a tensor is read without loading the whole file.
 */
export interface ByteSource {
  /** What the bytes are called in errors: a path, a file name, a URL. */
  readonly name: string;
  /** Total length in bytes. */
  readonly size: number;
  /**
   * The bytes in [position, position + length), clamped to the end of the source: the result is
   * shorter than `length` only where `size` says the source ends. A source that turns out shorter
   * than `size` raises ByteSourceError.
   */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A source whose bytes cannot be had as promised: a server that ignores ranges, a file that shrank. */
export class ByteSourceError extends ModelFileError {
  /** `code`: `unavailable` when a server could not be reached, `not_found` for a missing file. */
  constructor(problem: string, name: string, options?: { cause?: unknown; code?: ErrorCode }) {
    super(`${name}: ${problem}`, name, options?.code);
    this.name = 'ByteSourceError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Bytes a source promises for [position, position + length), so implementations clamp alike. */
export function clampedLength(size: number, position: number, length: number): number {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0) {
    throw new RangeError(`invalid byte range: ${length} bytes at ${position}`);
  }
  return Math.max(0, Math.min(length, size - position));
}

/** The whole source as UTF-8 text (for small JSON files beside the weights). */
export async function readText(source: ByteSource): Promise<string> {
  return new TextDecoder('utf-8').decode(await source.read(0, source.size));
}
