import { KvCacheInvariantError } from './errors.js';

/**
 * The free list of a block pool: an array-backed stack with a membership bit per block, so push,
 * pop and the double-free check are O(1) and allocate nothing.
 */
export class FreeBlockStack {
  private readonly stack: Int32Array;
  private readonly isFree: Uint8Array;
  private top: number;

  constructor(numBlocks: number) {
    this.stack = new Int32Array(numBlocks);
    this.isFree = new Uint8Array(numBlocks).fill(1);
    // Reverse order so the first pops hand out 0, 1, 2, ...: deterministic, easy to read in logs.
    for (let i = 0; i < numBlocks; i++) this.stack[i] = numBlocks - 1 - i;
    this.top = numBlocks;
  }

  get size(): number {
    return this.top;
  }

  has(block: number): boolean {
    return this.isFree[block] === 1;
  }

  push(block: number): void {
    if (this.isFree[block] === 1) throw new KvCacheInvariantError(`block ${block} freed twice`);
    this.isFree[block] = 1;
    this.stack[this.top++] = block;
  }

  /** Returns -1 when empty. */
  pop(): number {
    if (this.top === 0) return -1;
    const block = this.stack[--this.top]!;
    this.isFree[block] = 0;
    return block;
  }

  /** Blocks in pop order (next to be handed out first); for inspection, O(size). */
  toArray(): number[] {
    return Array.from(this.stack.subarray(0, this.top)).reverse();
  }
}
