import { pieceType, type SentencePieceModel } from './sentencepiece-model.js';

/** Protobuf bytes appended field by field (only the wire types a ModelProto needs). */
class ProtoWriter {
  private readonly parts: number[] = [];

  varint(field: number, value: number): void {
    this.key(field, 0);
    // Negative int32s go on the wire sign-extended to 64 bits, as protobuf requires.
    let v = BigInt.asUintN(64, BigInt(value));
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      this.parts.push(v === 0n ? byte : byte | 0x80);
    } while (v !== 0n);
  }

  float(field: number, value: number): void {
    this.key(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.parts.push(...bytes);
  }

  bytes(field: number, value: Uint8Array): void {
    this.key(field, 2);
    this.rawVarint(value.length);
    for (const byte of value) this.parts.push(byte);
  }

  result(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private key(field: number, wireType: number): void {
    this.rawVarint(field * 8 + wireType);
  }

  private rawVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
}

const utf8 = new TextEncoder();

/**
 * A tokenizer.model (SentencePiece ModelProto) holding what parseSentencePieceModel reads back:
 * pieces with scores and types, the trainer spec's model type and special ids, and the
 * normalizer's add_dummy_prefix.
 */
export function encodeSentencePieceModel(model: SentencePieceModel): Uint8Array {
  const out = new ProtoWriter();
  model.pieces.forEach((piece, i) => {
    const message = new ProtoWriter();
    message.bytes(1, utf8.encode(piece));
    message.float(2, model.scores[i] ?? 0);
    message.varint(3, model.types[i] ?? pieceType.normal);
    out.bytes(1, message.result());
  });
  const trainer = new ProtoWriter();
  trainer.varint(3, model.modelType);
  trainer.varint(40, model.unkId);
  trainer.varint(41, model.bosId);
  trainer.varint(42, model.eosId);
  trainer.varint(43, model.padId);
  out.bytes(2, trainer.result());
  const normalizer = new ProtoWriter();
  normalizer.varint(3, model.addDummyPrefix ? 1 : 0);
  out.bytes(3, normalizer.result());
  return out.result();
}
