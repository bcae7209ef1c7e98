import { describe, expect, it } from 'vitest';
import { parseSentencePieceModel, pieceType, type SentencePieceModel } from './sentencepiece-model.js';
import { encodeSentencePieceModel } from './sentencepiece-writer.js';

describe('encodeSentencePieceModel', () => {
  it('writes a ModelProto that parses back to the same model, negative pad id included', () => {
    const model: SentencePieceModel = {
      pieces: ['<unk>', '<s>', '</s>', '<0x0A>', '\u2581the', 'é'],
      scores: Float32Array.of(0, 0, 0, 0, -1.5, -20.25),
      types: Int32Array.of(
        pieceType.unknown,
        pieceType.control,
        pieceType.control,
        pieceType.byte,
        pieceType.normal,
        pieceType.userDefined,
      ),
      modelType: 1,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
      addDummyPrefix: false,
    };
    expect(parseSentencePieceModel(encodeSentencePieceModel(model), 'tokenizer.model')).toEqual(model);
  });
});
