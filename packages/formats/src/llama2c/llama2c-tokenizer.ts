import { Llama2cFormatError } from '../errors.js';
import type { ByteSource } from '../io/byte-source.js';
import { FileCursor, type FormatFailure } from '../gguf/file-cursor.js';

export interface Llama2cTokenizer {
  /** Longest token in bytes, as the file declares it. */
  readonly maxTokenLength: number;
  /** Token pieces decoded as UTF-8 (invalid sequences become U+FFFD). */
  readonly tokens: readonly string[];
  /** The pieces' bytes exactly as stored. */
  readonly tokenBytes: readonly Uint8Array[];
  /** SentencePiece merge scores: higher merges first. */
  readonly scores: Float32Array;
}

// Generous bounds that still catch a file that is not a tokenizer (llama 2: 27 bytes, 32000 tokens).
const maxSaneTokenLength = 1 << 16;
const maxSaneVocab = 1 << 24;

const textDecoder = new TextDecoder('utf-8');

/**
 * Reads a llama2.c tokenizer.bin: int32 max_token_length, then per token an f32 score, an int32
 * byte length and the bytes. The file does not store the token count; with `vocabSize` (from the
 * checkpoint) exactly that many are read, otherwise tokens are read to the end of the file. The
 * source is closed when done.
 */
export async function readLlama2cTokenizerSource(
  source: ByteSource,
  options: { vocabSize?: number } = {},
): Promise<Llama2cTokenizer> {
  const path = source.name;
  try {
    const fail: FormatFailure = (problem, offset) => {
      throw new Llama2cFormatError(`${problem} (at byte ${offset})`, path);
    };
    const c = new FileCursor(source, fail);
    await c.need(4, 'the max_token_length header');
    const maxTokenLength = c.i32();
    if (maxTokenLength < 1 || maxTokenLength > maxSaneTokenLength) {
      fail(
        `max_token_length is ${maxTokenLength}; expected 1..${maxSaneTokenLength}: not a llama2.c tokenizer`,
        0,
      );
    }
    const { vocabSize } = options;
    if (
      vocabSize !== undefined &&
      (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > maxSaneVocab)
    ) {
      throw new Llama2cFormatError(`vocabSize ${vocabSize} is not a plausible vocabulary size`, path);
    }
    const tokens: string[] = [];
    const tokenBytes: Uint8Array[] = [];
    const scores: number[] = [];
    while (vocabSize === undefined ? c.remaining > 0 : tokens.length < vocabSize) {
      if (tokens.length >= maxSaneVocab) fail(`more than ${maxSaneVocab} tokens`, c.position);
      const at = c.position;
      await c.need(8, `the header of token ${tokens.length}`);
      const score = c.f32();
      const length = c.i32();
      if (length < 0 || length > c.remaining) {
        fail(`token ${tokens.length} has byte length ${length}; ${c.remaining} bytes are left`, at + 4);
      }
      await c.need(length, `token ${tokens.length}`);
      const bytes = c.bytes(length).slice();
      tokens.push(textDecoder.decode(bytes));
      tokenBytes.push(bytes);
      scores.push(score);
    }
    if (tokens.length === 0) fail('the file holds no tokens', 4);
    return { maxTokenLength, tokens, tokenBytes, scores: Float32Array.from(scores) };
  } finally {
    await source.close();
  }
}
