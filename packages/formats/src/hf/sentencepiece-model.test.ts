import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFile } from '../testing/index.js';
import { openGguf } from '../node/index.js';
import { HfFormatError } from './hf-format-error.js';
import { parseSentencePieceModel } from './sentencepiece-model.js';
import { readSentencePieceModel } from '../node/index.js';

const llama2Model = modelFile('llama2/tokenizer.model');
const llamaSpmVocab = modelFile('vocab/ggml-vocab-llama-spm.gguf');

/** Protobuf encoding by hand, independent of the reader. */
const varint = (n: bigint): number[] => {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    out.push(Number(v & 0x7fn) | (v > 0x7fn ? 0x80 : 0));
    v >>= 7n;
  } while (v > 0n);
  return out;
};
const key = (field: number, wireType: number): number[] => varint(BigInt(field * 8 + wireType));
const bytesField = (field: number, payload: number[]): number[] => [
  ...key(field, 2),
  ...varint(BigInt(payload.length)),
  ...payload,
];
const floatField = (field: number, value: number): number[] => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, value, true);
  return [...key(field, 5), ...b];
};
const text = (s: string): number[] => [...new TextEncoder().encode(s)];
const piece = (p: string, score: number, type?: number): number[] =>
  bytesField(1, [
    ...bytesField(1, text(p)),
    ...floatField(2, score),
    ...(type === undefined ? [] : [...key(3, 0), ...varint(BigInt(type))]),
  ]);

const tinyModel = Uint8Array.from([
  ...piece('<unk>', 0, 2),
  ...piece('<s>', 0, 3),
  ...piece('</s>', 0, 3),
  ...piece('<0x0A>', 0, 6),
  ...piece('\u2581the', -1.5),
  // TrainerSpec: model_type BPE, unk 0, bos 1, eos 2, pad -1 (a 10-byte varint), plus an unknown field.
  ...bytesField(2, [
    ...key(3, 0),
    2,
    ...key(40, 0),
    0,
    ...key(41, 0),
    1,
    ...key(42, 0),
    2,
    ...key(43, 0),
    ...varint(-1n),
    ...key(7, 0),
    5,
  ]),
  // NormalizerSpec: add_dummy_prefix false.
  ...bytesField(3, [...bytesField(1, text('nmt_nfkc')), ...key(3, 0), 0]),
]);

describe('readSentencePieceModel', () => {
  it('reads pieces, scores, types, special ids and add_dummy_prefix from a hand-encoded model', () => {
    const model = parseSentencePieceModel(tinyModel, 'tiny.model');
    expect(model.pieces).toEqual(['<unk>', '<s>', '</s>', '<0x0A>', '\u2581the']);
    expect([...model.scores]).toEqual([0, 0, 0, 0, -1.5]);
    expect([...model.types]).toEqual([2, 3, 3, 6, 1]);
    expect(model).toMatchObject({
      modelType: 2,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
      addDummyPrefix: false,
    });
  });

  it.skipIf(llama2Model === undefined || llamaSpmVocab === undefined)(
    "reads Llama 2's tokenizer.model exactly as llama.cpp converted it (ggml-vocab-llama-spm.gguf)",
    async () => {
      const model = await readSentencePieceModel(llama2Model!);
      const reference = await openGguf(llamaSpmVocab!);
      try {
        expect(model.pieces).toEqual(reference.getStringArray('tokenizer.ggml.tokens'));
        expect(model.scores).toEqual(reference.getFloat32Array('tokenizer.ggml.scores'));
        expect(model.types).toEqual(reference.getInt32Array('tokenizer.ggml.token_type'));
        expect(model).toMatchObject({
          modelType: 2,
          unkId: 0,
          bosId: 1,
          eosId: 2,
          padId: -1,
          addDummyPrefix: true,
        });
      } finally {
        await reference.close();
      }
    },
  );

  describe('corrupted input', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spm-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('throws only HfFormatError for truncated and bit-flipped models', () => {
      fc.assert(
        fc.property(
          fc.nat({ max: tinyModel.length }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          (length, flips) => {
            const bytes = tinyModel.slice(0, length);
            for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
            try {
              parseSentencePieceModel(bytes, 'fuzz.model');
            } catch (error) {
              expect(error).toBeInstanceOf(HfFormatError);
            }
          },
        ),
        { numRuns: 400 },
      );
    });

    it('refuses a missing file and a file that is not a SentencePiece model', async () => {
      await expect(readSentencePieceModel(join(dir, 'absent.model'))).rejects.toBeInstanceOf(HfFormatError);
      const json = join(dir, 'tokenizer.json.model');
      await writeFile(json, '{"model": {"type": "BPE"}}');
      await expect(readSentencePieceModel(json)).rejects.toMatchObject({ problem: 'tokenizer-invalid' });
    });
  });
});
