import { HfFormatError } from './hf-format-error.js';

/** SentencePiece piece types (sentencepiece_model.proto); GGUF's token_type uses the same numbers. */
export const pieceType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SentencePieceModel {
  readonly pieces: readonly string[];
  readonly scores: Float32Array;
  readonly types: Int32Array;
  /** TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. */
  readonly modelType: number;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** -1 when the model has no padding piece. */
  readonly padId: number;
  readonly addDummyPrefix: boolean;
}

// Wire types of the protobuf encoding.
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One protobuf message's fields, read with every length checked against the bytes left. */
class ProtoReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fail: (problem: string) => never,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** Varints up to 2^53: field numbers, lengths, enums and int32s (negative int32s arrive as 10-byte varints). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail('a varint runs past the end');
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    return this.fail('a varint is longer than 10 bytes');
  }

  /** A varint as a signed 32-bit value: protobuf sign-extends negative int32s to 64 bits, beyond a double's precision. */
  int32(): number {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail('a varint runs past the end');
      const byte = this.bytes[this.pos++]!;
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return Number(BigInt.asIntN(32, result));
    }
    return this.fail('a varint is longer than 10 bytes');
  }

  float(): number {
    if (this.pos + 4 > this.bytes.length) this.fail('a float runs past the end');
    const value = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return value;
  }

  bytesField(): Uint8Array {
    const length = this.varint();
    if (length > this.bytes.length - this.pos) this.fail(`a ${length}-byte field runs past the end`);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    const bytes = this.bytesField();
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail('a piece is not valid UTF-8');
    }
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === FIXED64) this.advance(8);
    else if (wireType === LENGTH_DELIMITED) this.bytesField();
    else if (wireType === FIXED32) this.advance(4);
    else this.fail(`wire type ${wireType} is not used by SentencePiece models`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.bytes.length) this.fail('a field runs past the end');
    this.pos += n;
  }

  /**
   * Calls `field` for every field in order; it reads the value of the fields it knows (given the
   * wire type it expects) and returns false for the others, which are skipped.
   */
  fields(field: (number: number, wireType: number) => boolean): void {
    while (!this.done) {
      const key = this.varint();
      const number = Math.floor(key / 8);
      const wireType = key % 8;
      if (number === 0) this.fail('field number 0');
      if (!field(number, wireType)) this.skip(wireType);
    }
  }
}

/**
 * Parses the parts of a SentencePiece tokenizer.model (a ModelProto) that a GGUF vocabulary needs:
 * pieces with scores and types, the special ids and add_dummy_prefix.
 */
export function parseSentencePieceModel(bytes: Uint8Array, path: string): SentencePieceModel {
  const fail = (problem: string): never => {
    throw new HfFormatError(path, 'tokenizer-invalid', `not a SentencePiece model: ${problem}`);
  };
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const model = { modelType: 1, unkId: 0, bosId: 1, eosId: 2, padId: -1, addDummyPrefix: true };
  // A field whose wire type differs from the schema's is some other message: refuse it.
  const is = (wireType: number, wanted: number): boolean =>
    wireType === wanted || fail(`unexpected wire type ${wireType}`);

  const top = new ProtoReader(bytes, fail);
  top.fields((number, wireType) => {
    if (number === 1 && is(wireType, LENGTH_DELIMITED)) {
      // ModelProto.pieces: SentencePiece { piece = 1, score = 2, type = 3 }.
      let piece = '';
      let score = 0;
      let type: number = pieceType.normal;
      const message = new ProtoReader(top.bytesField(), fail);
      message.fields((n, w) => {
        if (n === 1 && is(w, LENGTH_DELIMITED)) piece = message.string();
        else if (n === 2 && is(w, FIXED32)) score = message.float();
        else if (n === 3 && is(w, VARINT)) type = message.varint();
        else return false;
        return true;
      });
      if (type < pieceType.normal || type > pieceType.byte) fail(`piece ${pieces.length} has type ${type}`);
      pieces.push(piece);
      scores.push(score);
      types.push(type);
      return true;
    }
    if (number === 2 && is(wireType, LENGTH_DELIMITED)) {
      // TrainerSpec: model_type = 3, unk_id = 40, bos_id = 41, eos_id = 42, pad_id = 43.
      const message = new ProtoReader(top.bytesField(), fail);
      message.fields((n, w) => {
        if (n === 3 && is(w, VARINT)) model.modelType = message.varint();
        else if (n === 40 && is(w, VARINT)) model.unkId = message.int32();
        else if (n === 41 && is(w, VARINT)) model.bosId = message.int32();
        else if (n === 42 && is(w, VARINT)) model.eosId = message.int32();
        else if (n === 43 && is(w, VARINT)) model.padId = message.int32();
        else return false;
        return true;
      });
      return true;
    }
    if (number === 3 && is(wireType, LENGTH_DELIMITED)) {
      // NormalizerSpec: add_dummy_prefix = 3.
      const message = new ProtoReader(top.bytesField(), fail);
      message.fields((n, w) => {
        if (n === 3 && is(w, VARINT)) model.addDummyPrefix = message.varint() !== 0;
        else return false;
        return true;
      });
      return true;
    }
    return false;
  });
  if (pieces.length === 0) fail('it holds no pieces');
  return { pieces, scores: Float32Array.from(scores), types: Int32Array.from(types), ...model };
}
