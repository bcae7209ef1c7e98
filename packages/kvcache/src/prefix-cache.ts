import { KvCacheInvariantError } from './errors.js';

/**
 * The content index of the GPU pool: which physical block holds which full block of tokens.
 *
 * Blocks are found by their chained hash (block-hash.ts), then verified exactly before they are
 * shared: same token ids, and the same parent (the parent's block id and the generation it had
 * when the child was registered; a root block compares its extra key instead). A hash collision
 * therefore costs a miss, never wrong K/V. The generation of a block changes whenever it is
 * registered or unregistered, so a child whose parent was evicted can no longer be reached.
 */
export class PrefixCache {
  // Hash -> block: a chained hash table over block ids in typed arrays. A Map keyed by 53-bit
  // numbers boxes every key and misses cache on a large pool; this allocates nothing. Load factor
  // stays <= 1 because only blocks are entries.
  private readonly buckets: Int32Array;
  private readonly chainNext: Int32Array;
  private readonly bucketMask: number;
  private count = 0;
  private readonly registered: Uint8Array;
  private readonly hashes: Float64Array;
  private readonly generations: Uint32Array;
  private readonly parentBlocks: Int32Array;
  private readonly parentGenerations: Uint32Array;
  private readonly rootKeys: string[];
  private readonly tokens: Int32Array;

  constructor(
    numBlocks: number,
    private readonly blockSize: number,
  ) {
    const numBuckets = 2 ** Math.ceil(Math.log2(Math.max(2, numBlocks)));
    this.buckets = new Int32Array(numBuckets).fill(-1);
    this.bucketMask = numBuckets - 1;
    this.chainNext = new Int32Array(numBlocks).fill(-1);
    this.registered = new Uint8Array(numBlocks);
    this.hashes = new Float64Array(numBlocks);
    this.generations = new Uint32Array(numBlocks);
    this.parentBlocks = new Int32Array(numBlocks).fill(-1);
    this.parentGenerations = new Uint32Array(numBlocks);
    this.rootKeys = new Array<string>(numBlocks).fill('');
    this.tokens = new Int32Array(numBlocks * blockSize);
  }

  /** Registered blocks, in use or not. */
  get size(): number {
    return this.count;
  }

  isRegistered(block: number): boolean {
    return this.registered[block] === 1;
  }

  generation(block: number): number {
    return this.generations[block]!;
  }

  /** The block registered under `hash`, or -1. Not yet verified: see `matches`. */
  find(hash: number): number {
    let block = this.buckets[this.bucketOf(hash)]!;
    while (block >= 0 && this.hashes[block] !== hash) block = this.chainNext[block]!;
    return block;
  }

  private bucketOf(hash: number): number {
    // Low 32 bits mixed with the high 21: every bit of the hash picks the bucket.
    return ((hash >>> 0) ^ Math.floor(hash / 4294967296)) & this.bucketMask;
  }

  /** Its parent was evicted or replaced since it was registered: unreachable by any lookup. */
  isStale(block: number): boolean {
    const parent = this.parentBlocks[block]!;
    return parent >= 0 && this.generations[parent] !== this.parentGenerations[block];
  }

  /**
   * Whether `block` holds exactly `tokens[start .. start + blockSize)` after the given parent
   * (`parentBlock` -1: a first block, identified by `rootKey`).
   */
  matches(
    block: number,
    parentBlock: number,
    parentGeneration: number,
    rootKey: string,
    tokens: ArrayLike<number>,
    start: number,
  ): boolean {
    if (this.parentBlocks[block] !== parentBlock) return false;
    if (parentBlock >= 0) {
      if (this.parentGenerations[block] !== parentGeneration) return false;
      if (this.generations[parentBlock] !== parentGeneration) return false;
    } else if (this.rootKeys[block] !== rootKey) {
      return false;
    }
    const base = block * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) {
      if (this.tokens[base + i] !== tokens[start + i]) return false;
    }
    return true;
  }

  register(
    block: number,
    hash: number,
    parentBlock: number,
    parentGeneration: number,
    rootKey: string,
    tokens: ArrayLike<number>,
    start: number,
  ): void {
    this.registered[block] = 1;
    this.hashes[block] = hash;
    this.generations[block] = (this.generations[block]! + 1) >>> 0;
    this.parentBlocks[block] = parentBlock;
    this.parentGenerations[block] = parentGeneration;
    this.rootKeys[block] = parentBlock >= 0 ? '' : rootKey;
    const base = block * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) this.tokens[base + i] = tokens[start + i]!;
    const bucket = this.bucketOf(hash);
    this.chainNext[block] = this.buckets[bucket]!;
    this.buckets[bucket] = block;
    this.count++;
  }

  unregister(block: number): void {
    this.registered[block] = 0;
    this.generations[block] = (this.generations[block]! + 1) >>> 0;
    this.rootKeys[block] = '';
    const bucket = this.bucketOf(this.hashes[block]!);
    let prev = -1;
    let b = this.buckets[bucket]!;
    while (b !== block) {
      if (b < 0) throw new KvCacheInvariantError(`unregister() of block ${block}, which is not registered`);
      prev = b;
      b = this.chainNext[b]!;
    }
    if (prev < 0) this.buckets[bucket] = this.chainNext[block]!;
    else this.chainNext[prev] = this.chainNext[block]!;
    this.chainNext[block] = -1;
    this.count--;
  }

  /** The token ids a registered block holds; for inspection. */
  blockTokens(block: number): number[] {
    const base = block * this.blockSize;
    return Array.from(this.tokens.subarray(base, base + this.blockSize));
  }
}
