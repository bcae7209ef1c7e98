/**
 * An intrusive doubly linked list over block ids ordered by last use: O(1) insert at the
 * most-recent end, O(1) removal from anywhere (a prefix-cache hit revives a block from the
 * middle), O(1) pop of the least recently used block.
 */
export class LruBlockList {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly member: Uint8Array;
  private head = -1;
  private tail = -1;
  private count = 0;

  constructor(numBlocks: number) {
    this.prev = new Int32Array(numBlocks).fill(-1);
    this.next = new Int32Array(numBlocks).fill(-1);
    this.member = new Uint8Array(numBlocks);
  }

  get size(): number {
    return this.count;
  }

  has(block: number): boolean {
    return this.member[block] === 1;
  }

  pushMostRecent(block: number): void {
    this.member[block] = 1;
    this.prev[block] = this.tail;
    this.next[block] = -1;
    if (this.tail >= 0) this.next[this.tail] = block;
    else this.head = block;
    this.tail = block;
    this.count++;
  }

  remove(block: number): void {
    const p = this.prev[block]!;
    const n = this.next[block]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[block] = -1;
    this.next[block] = -1;
    this.member[block] = 0;
    this.count--;
  }

  /** Returns -1 when empty. */
  popLeastRecent(): number {
    const block = this.head;
    if (block >= 0) this.remove(block);
    return block;
  }

  /** Blocks from least to most recently used; for inspection, O(size). */
  toArray(): number[] {
    const out: number[] = [];
    for (let b = this.head; b >= 0; b = this.next[b]!) out.push(b);
    return out;
  }
}
