import { KvCacheInvariantError } from './errors.js';
import { FreeBlockStack } from './free-block-stack.js';
import { LruBlockList } from './lru-block-list.js';
import type { PrefixCache } from './prefix-cache.js';

/**
 * Physical blocks of one memory pool with reference counts. Every block is in exactly one state:
 * - free: on the free list, content meaningless;
 * - used: referenced by at least one block table (refCount > 0);
 * - cached: refCount 0 but registered in the prefix cache, kept in LRU order and handed out
 *   again only when the free list is empty (evicting the least recently used one).
 */
export class BlockPool {
  readonly refCounts: Int32Array;
  private readonly free: FreeBlockStack;
  private readonly evictable: LruBlockList;
  private evictionCount = 0;

  constructor(
    readonly numBlocks: number,
    readonly cache: PrefixCache | null,
  ) {
    this.refCounts = new Int32Array(numBlocks);
    this.free = new FreeBlockStack(numBlocks);
    this.evictable = new LruBlockList(cache ? numBlocks : 0);
  }

  get freeBlocks(): number {
    return this.free.size;
  }

  get cachedBlocks(): number {
    return this.evictable.size;
  }

  get usedBlocks(): number {
    return this.numBlocks - this.free.size - this.evictable.size;
  }

  /** Blocks `acquire` can hand out now: free ones plus evictable cached ones. */
  get availableBlocks(): number {
    return this.free.size + this.evictable.size;
  }

  get evictions(): number {
    return this.evictionCount;
  }

  isFree(block: number): boolean {
    return this.free.has(block);
  }

  isEvictable(block: number): boolean {
    return this.cache !== null && this.evictable.has(block);
  }

  /** A block with refCount 1. The caller has checked `availableBlocks`. */
  acquire(): number {
    let block = this.free.pop();
    if (block < 0) block = this.evictLeastRecent();
    if (block < 0) throw new KvCacheInvariantError('acquire() on an exhausted pool');
    this.refCounts[block] = 1;
    return block;
  }

  /** One more reference to a used or cached block (a fork, or a prefix-cache hit). */
  retain(block: number): void {
    const rc = this.refCounts[block]!;
    if (rc === 0) {
      if (!this.isEvictable(block)) throw new KvCacheInvariantError(`retain() of free block ${block}`);
      this.evictable.remove(block);
    }
    this.refCounts[block] = rc + 1;
  }

  release(block: number): void {
    const rc = this.refCounts[block]! - 1;
    if (rc < 0) throw new KvCacheInvariantError(`block ${block} released more often than retained`);
    this.refCounts[block] = rc;
    if (rc > 0) return;
    if (this.cache?.isRegistered(block)) this.evictable.pushMostRecent(block);
    else this.free.push(block);
  }

  /** Drops a block from the prefix cache; an unreferenced one goes back to the free list. */
  uncache(block: number): void {
    this.cache!.unregister(block);
    if (this.evictable.has(block)) {
      this.evictable.remove(block);
      this.free.push(block);
    }
  }

  /** Evicts up to `maxBlocks` cached blocks, least recently used first; returns how many. */
  evict(maxBlocks: number): number {
    let n = 0;
    while (n < maxBlocks) {
      const block = this.evictLeastRecent();
      if (block < 0) break;
      this.free.push(block);
      n++;
    }
    return n;
  }

  private evictLeastRecent(): number {
    const block = this.evictable.popLeastRecent();
    if (block >= 0) {
      this.cache!.unregister(block);
      this.evictionCount++;
    }
    return block;
  }

  freeList(): number[] {
    return this.free.toArray();
  }

  cachedInEvictionOrder(): number[] {
    return this.evictable.toArray();
  }
}
