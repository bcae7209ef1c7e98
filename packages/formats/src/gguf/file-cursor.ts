import type { ByteSource } from '../io/byte-source.js';

/** Raises the reader's own typed error; `offset` is the absolute byte position of the problem. */
export type FormatFailure = (problem: string, offset: number) => never;

// 1 MiB windows: a 150k-token vocabulary (a few MiB of strings) takes a handful of reads.
const defaultWindowBytes = 1 << 20;

/**
 * Sequential little-endian reads over a ByteSource through positioned reads of a bounded window, so a
 * header is parsed without reading the file whole. Every read is checked against the file size
 * first: a truncated file or an oversized length ends in `fail`, never in a RangeError.
 *
 * Callers make bytes available with `need` (async) and then read them with the sync getters.
 */
export class FileCursor {
  readonly fileSize: number;
  private readonly source: ByteSource;
  private readonly fail: FormatFailure;
  private readonly windowBytes: number;
  private window: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.window.buffer);
  private windowStart = 0;
  private pos = 0;

  constructor(source: ByteSource, fail: FormatFailure, windowBytes = defaultWindowBytes) {
    this.source = source;
    this.fileSize = source.size;
    this.fail = fail;
    this.windowBytes = windowBytes;
  }

  get position(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  seek(position: number): void {
    this.pos = position;
  }

  /** Whether `n` bytes from the current position are already in memory. */
  has(n: number): boolean {
    return this.pos >= this.windowStart && this.pos + n <= this.windowStart + this.window.length;
  }

  /** Makes `n` bytes at the current position readable, or fails when the file ends first. */
  async need(n: number, what: string): Promise<void> {
    if (this.has(n)) return;
    if (n > this.remaining) {
      this.fail(`file ends inside ${what}: ${n} bytes needed, ${this.remaining} left`, this.pos);
    }
    const length = Math.min(Math.max(n, this.windowBytes), this.remaining);
    const buffer = await this.source.read(this.pos, length);
    this.window = buffer;
    this.view = new DataView(buffer.buffer);
    this.windowStart = this.pos;
  }

  private at(n: number): number {
    const offset = this.pos - this.windowStart;
    this.pos += n;
    return offset;
  }

  u8(): number {
    return this.view.getUint8(this.at(1));
  }
  i8(): number {
    return this.view.getInt8(this.at(1));
  }
  u16(): number {
    return this.view.getUint16(this.at(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.at(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.at(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.at(4), true);
  }
  f32(): number {
    return this.view.getFloat32(this.at(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.at(8), true);
  }
  u64(): bigint {
    return this.view.getBigUint64(this.at(8), true);
  }
  i64(): bigint {
    return this.view.getBigInt64(this.at(8), true);
  }

  /**
   * A u64 count or length that must not exceed `max` (what the rest of the file can hold), so an
   * oversized header fails before anything is allocated for it.
   */
  u64Bounded(max: number, what: string): number {
    const start = this.pos;
    const offset = this.at(8);
    const lo = this.view.getUint32(offset, true);
    const hi = this.view.getUint32(offset + 4, true);
    // hi >= 2^21 puts the value past 2^53, far beyond any file.
    const value = hi < 0x200000 ? hi * 0x1_0000_0000 + lo : Number.POSITIVE_INFINITY;
    if (value > max) {
      const shown = hi < 0x200000 ? String(value) : String((BigInt(hi) << 32n) | BigInt(lo));
      this.fail(`${what} is ${shown}, more than the ${max} the rest of the file can hold`, start);
    }
    return value;
  }

  /** `n` bytes as a view into the window (valid until the next `need`). */
  bytes(n: number): Uint8Array {
    const offset = this.at(n);
    return this.window.subarray(offset, offset + n);
  }
}
