/**
 * Where a writer streams a file, front to back. Nothing is visible under the destination's name
 * until `commit`, so a failed write never leaves a half-written model behind.
 */
export interface ByteSink {
  readonly name: string;
  /** Appends `bytes`; the caller may reuse the buffer once the promise settles. */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the written file final. */
  commit(): Promise<void>;
  /** Drops everything written. */
  abort(): Promise<void>;
}

/** A sink that gathers the file in memory, e.g. to hand a browser a Blob to download. */
export class MemorySink implements ByteSink {
  private readonly parts: Uint8Array[] = [];
  private committed: Uint8Array<ArrayBuffer> | undefined;

  constructor(readonly name: string) {}

  async write(bytes: Uint8Array): Promise<void> {
    this.parts.push(bytes.slice());
  }

  async commit(): Promise<void> {
    const out = new Uint8Array(this.parts.reduce((n, part) => n + part.byteLength, 0));
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    this.parts.length = 0;
    this.committed = out;
  }

  async abort(): Promise<void> {
    this.parts.length = 0;
  }

  /** The committed file; undefined before `commit`. */
  get bytes(): Uint8Array<ArrayBuffer> | undefined {
    return this.committed;
  }
}
