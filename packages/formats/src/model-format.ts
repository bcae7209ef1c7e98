import type { ByteSource } from './io/byte-source.js';
import { llama2cHeaderBytes, parseLlama2cHeader } from './llama2c/llama2c-checkpoint.js';

export type ModelFormat = 'gguf' | 'llama2c' | 'hf';

const ggufMagic = new TextEncoder().encode('GGUF');

/** Whether the first bytes of a file are the GGUF magic. */
export function startsWithGgufMagic(head: Uint8Array): boolean {
  return head.length >= ggufMagic.length && ggufMagic.every((byte, i) => head[i] === byte);
}

/**
 * The format of a single-file model from its first bytes: GGUF by its magic, llama2.c by a sane
 * header; undefined when it is neither.
 */
export async function detectFileFormat(source: ByteSource): Promise<'gguf' | 'llama2c' | undefined> {
  const head = await source.read(0, llama2cHeaderBytes);
  if (startsWithGgufMagic(head)) return 'gguf';
  try {
    parseLlama2cHeader(head, source.name);
    return 'llama2c';
  } catch {
    return undefined;
  }
}
