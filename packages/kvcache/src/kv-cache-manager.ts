import { chainBlockHash, rootBlockHash } from './block-hash.js';
import { BlockPool } from './block-pool.js';
import {
  DuplicateSequenceError,
  InvalidTokensError,
  KvCacheExhaustedError,
  KvCacheInvariantError,
  KvCacheOptionsError,
  SequenceLocationError,
  UnknownSequenceError,
  type BlockPoolName,
} from './errors.js';
import { parseKvCacheOptions, type KvCacheOptions } from './kv-cache-options.js';
import { PrefixCache } from './prefix-cache.js';
import type { SequenceId, SequenceState } from './sequence.js';

/** Copy the K/V of GPU block `src` into GPU block `dst` (copy-on-write) before this step's writes. */
export interface BlockCopy {
  readonly src: number;
  readonly dst: number;
}

export interface AllocateOptions {
  /** Extra prefix-cache key: sequences with different keys never share blocks (LoRA id, salt). */
  readonly cacheKey?: string;
}

export interface CanAllocateOptions extends AllocateOptions {
  /**
   * Blocks that must stay available after the allocation: a scheduler's watermark, kept free so
   * running sequences can grow. 'never' then means more blocks than numBlocks - reserveBlocks.
   */
  readonly reserveBlocks?: number;
}

export interface AllocateResult {
  /** Leading prompt tokens whose K/V is already cached: prefill starts at this position. */
  readonly numCachedTokens: number;
  /** `slots[i]` (= block * blockSize + offset) receives the K/V of position numCachedTokens + i. */
  readonly slots: Int32Array;
}

export interface AppendResult {
  /** `slots[i]` receives the K/V of the i-th appended token. */
  readonly slots: Int32Array;
  /** A copy to perform before writing the slots: the last block was shared (fork) and is split. */
  readonly copy: BlockCopy | null;
}

/**
 * appendToken()'s stand-in for a token sampled by a step still on the device: the slot is taken
 * now and resolvePendingToken() names the token before the sequence's next append.
 */
export const PENDING_TOKEN = -1;

export interface SwapCopy {
  readonly gpuBlock: number;
  readonly hostBlock: number;
}

export interface SwapPlan {
  /** 'out': copy gpuBlock -> hostBlock; 'in': hostBlock -> gpuBlock. */
  readonly direction: 'out' | 'in';
  readonly copies: readonly SwapCopy[];
}

/** 'later': fits once blocks are freed; 'never': needs more blocks than the pool has. */
export type AllocationStatus = 'ok' | 'later' | 'never';

export type BlockState = 'free' | 'used' | 'cached';

/** One GPU block as a live view draws it: its state and the resident sequences whose tables hold it. */
export interface BlockMapEntry {
  readonly state: BlockState;
  readonly refCount: number;
  /** Sequences holding the block, in the order they were added; more than one: a shared block. */
  readonly owners: readonly SequenceId[];
  /** Registered in the prefix cache (a full prompt or generated block others may reuse). */
  readonly cached: boolean;
}

export interface KvCacheUsage {
  readonly totalBlocks: number;
  /** Blocks referenced by at least one sequence. */
  readonly usedBlocks: number;
  /** Blocks holding nothing. */
  readonly freeBlocks: number;
  /** Unreferenced blocks kept for prefix-cache hits; reusable, evicted LRU-first when needed. */
  readonly cachedBlocks: number;
  /** freeBlocks + cachedBlocks: what allocations can take now. */
  readonly availableBlocks: number;
  /** usedBlocks / totalBlocks: cached-but-unreferenced blocks count as free (as in vLLM). */
  readonly usage: number;
  readonly numSequences: number;
  readonly hostTotalBlocks: number;
  readonly hostUsedBlocks: number;
}

export interface PrefixCacheStats {
  readonly enabled: boolean;
  /** Successful allocate() calls that looked up the cache. */
  readonly queries: number;
  /** Prompt tokens looked up, and how many of them were found cached. */
  readonly queryTokens: number;
  readonly hitTokens: number;
  /** Full prompt blocks that could have hit (the last prompt token is always computed), and hits. */
  readonly queryBlocks: number;
  readonly hitBlocks: number;
  /** Cached blocks reused for a different prefix because the free list ran dry. */
  readonly evictions: number;
  /** Blocks currently registered (in use or cached). */
  readonly registeredBlocks: number;
}

interface PrefixMatch {
  readonly blocks: number[];
  readonly evictableHits: number;
  readonly chainHash: number;
  readonly chainBlock: number;
  readonly chainGeneration: number;
}

/**
 * A paged KV cache: fixed-size physical blocks shared between sequences through per-sequence
 * block tables, with a prefix cache, copy-on-write and swap planning. It only does bookkeeping;
 * the engine moves the bytes (it writes K/V to the slots handed out, performs the copies).
 *
 * Contract with the engine: it writes the K/V of every slot handed out, after performing the
 * copies returned with it (copy-on-write, swaps) and before any attention reads that slot. A
 * block is offered to other requests only once its K/V is known to be computed: prompt blocks at
 * markComputed() (chunked prefill) or at the sequence's first append, generated blocks when their
 * last slot is handed out (a forward pass writes each layer's new K/V before that layer's
 * attention, so a prefill in the same pass already reads them).
 *
 * Every operation costs O(tokens or blocks it touches); none scans the sequences.
 */
export class KvCacheManager {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly numHostBlocks: number;
  readonly prefixCachingEnabled: boolean;

  private readonly gpu: BlockPool;
  private readonly host: BlockPool;
  private readonly cache: PrefixCache | null;
  private readonly sequences = new Map<SequenceId, SequenceState>();

  private queries = 0;
  private queryTokens = 0;
  private hitTokens = 0;
  private queryBlocks = 0;
  private hitBlocks = 0;
  private evictionsAtReset = 0;

  constructor(options: KvCacheOptions) {
    const o = parseKvCacheOptions(options);
    this.blockSize = o.blockSize;
    this.numBlocks = o.numBlocks;
    this.numHostBlocks = o.numHostBlocks;
    this.prefixCachingEnabled = o.enablePrefixCaching;
    this.cache = o.enablePrefixCaching ? new PrefixCache(o.numBlocks, o.blockSize) : null;
    this.gpu = new BlockPool(o.numBlocks, this.cache);
    this.host = new BlockPool(o.numHostBlocks, null);
  }

  // ---- sequence lifecycle -------------------------------------------------------------------

  /**
   * Creates a sequence for `promptTokens`, reusing the longest cached prefix of full blocks, and
   * reserves slots for the rest of the prompt. Throws KvCacheExhaustedError (changing nothing)
   * when the pool cannot hold it.
   */
  allocate(id: SequenceId, promptTokens: ArrayLike<number>, options: AllocateOptions = {}): AllocateResult {
    const op = 'allocate';
    if (this.sequences.has(id)) throw new DuplicateSequenceError(id, op);
    checkTokens(promptTokens, op);
    const cacheKey = options.cacheKey ?? '';
    const bs = this.blockSize;
    const n = promptTokens.length;
    const totalBlocks = Math.ceil(n / bs);
    const match = this.cache ? this.matchPrefix(promptTokens, cacheKey) : null;
    const hits = match ? match.blocks.length : 0;
    const newBlocks = totalBlocks - hits;
    const available = this.gpu.availableBlocks - (match ? match.evictableHits : 0);
    if (available < newBlocks) {
      throw new KvCacheExhaustedError('gpu', newBlocks, available, this.numBlocks, `allocate(${String(id)})`);
    }

    const blocks = new Array<number>(totalBlocks);
    for (let i = 0; i < hits; i++) {
      const b = match!.blocks[i]!;
      this.gpu.retain(b);
      blocks[i] = b;
    }
    for (let i = hits; i < totalBlocks; i++) blocks[i] = this.gpu.acquire();

    const numCachedTokens = hits * bs;
    const slots = new Int32Array(n - numCachedTokens);
    for (let p = numCachedTokens; p < n; p++) {
      slots[p - numCachedTokens] = blocks[(p / bs) | 0]! * bs + (p % bs);
    }

    const fullBlocks = (n / bs) | 0;
    const seq: SequenceState = {
      id,
      blocks,
      numTokens: n,
      location: 'gpu',
      cacheKey,
      tail: null,
      chainHash: 0,
      chainBlock: -1,
      chainGeneration: 0,
      chainOk: true,
      publishedBlocks: hits,
      lastMaybeShared: false,
      pending: null,
      pendingFirstBlock: hits,
      pendingTokenAt: -1,
    };
    if (match) {
      seq.chainHash = match.chainHash;
      seq.chainBlock = match.chainBlock;
      seq.chainGeneration = match.chainGeneration;
      const tail = new Int32Array(bs);
      for (let p = fullBlocks * bs; p < n; p++) tail[p - fullBlocks * bs] = promptTokens[p]!;
      seq.tail = tail;
      if (fullBlocks > hits) seq.pending = copyTokens(promptTokens, hits * bs, fullBlocks * bs);
      this.queries++;
      this.queryTokens += n;
      this.hitTokens += numCachedTokens;
      this.queryBlocks += ((n - 1) / bs) | 0;
      this.hitBlocks += hits;
    }
    this.sequences.set(id, seq);
    return { numCachedTokens, slots };
  }

  /**
   * Reserves slots for `tokenIds` generated (or chunk-prefilled) after the sequence's current end.
   * When the last block is shared and partly filled, it is split first: the returned copy must be
   * performed before the slots are written. Throws KvCacheExhaustedError (changing nothing).
   */
  append(id: SequenceId, tokenIds: ArrayLike<number>): AppendResult {
    const op = 'append';
    const seq = this.resident(id, op);
    checkTokens(tokenIds, op);
    this.checkNoPendingToken(seq, op);
    const k = tokenIds.length;
    const mustCopy = this.lastBlockShared(seq);
    const needed = Math.ceil((seq.numTokens + k) / this.blockSize) - seq.blocks.length + (mustCopy ? 1 : 0);
    this.ensureAvailable(needed, seq, op);
    if (seq.pending) this.publishPending(seq, Number.POSITIVE_INFINITY);
    const copy = mustCopy ? this.splitLastBlock(seq) : null;
    const slots = new Int32Array(k);
    for (let i = 0; i < k; i++) slots[i] = this.place(seq, tokenIds[i]!);
    return { slots, copy };
  }

  /**
   * The decode hot path: append() for one token without allocating a result. Returns the token's
   * slot; a copy-on-write split, when needed, is pushed onto `copies` (collect one step's copies
   * of all sequences in one array).
   */
  appendToken(id: SequenceId, tokenId: number, copies: BlockCopy[]): number {
    const op = 'appendToken';
    const seq = this.resident(id, op);
    if (tokenId !== PENDING_TOKEN && !isTokenId(tokenId)) throw badToken(op, 0, tokenId);
    this.checkNoPendingToken(seq, op);
    const mustCopy = this.lastBlockShared(seq);
    const needed = (seq.numTokens % this.blockSize === 0 ? 1 : 0) + (mustCopy ? 1 : 0);
    if (needed > 0) this.ensureAvailable(needed, seq, op);
    if (seq.pending) this.publishPending(seq, Number.POSITIVE_INFINITY);
    if (mustCopy) copies.push(this.splitLastBlock(seq));
    if (tokenId === PENDING_TOKEN) seq.pendingTokenAt = seq.numTokens;
    return this.place(seq, tokenId);
  }

  /**
   * Names the token appended as PENDING_TOKEN: it joins the last block's content hash, and a block
   * it fills is offered to the prefix cache now (never before, so no block is shared under a hash
   * of a token it does not hold).
   */
  resolvePendingToken(id: SequenceId, tokenId: number): void {
    const op = 'resolvePendingToken';
    const seq = this.resident(id, op);
    if (!isTokenId(tokenId)) throw badToken(op, 0, tokenId);
    const p = seq.pendingTokenAt;
    if (p < 0) {
      throw new InvalidTokensError(`${op}(${String(id)}): the sequence has no pending token (append PENDING_TOKEN first).`);
    }
    seq.pendingTokenAt = -1;
    const bs = this.blockSize;
    const tail = seq.tail;
    if (!tail) return;
    tail[p % bs] = tokenId;
    if (p % bs === bs - 1) this.publishBlock(seq, (p / bs) | 0, tail, 0);
  }

  /** Whether the sequence holds a token appended as PENDING_TOKEN and not yet resolved. */
  hasPendingToken(id: SequenceId): boolean {
    const seq = this.sequences.get(id);
    if (!seq) throw new UnknownSequenceError(id, 'hasPendingToken');
    return seq.pendingTokenAt >= 0;
  }

  /**
   * Declares the K/V of the first `numComputedTokens` positions written, so full prompt blocks up
   * to there can be shared with later requests before the sequence's first append (chunked
   * prefill). Optional: append() does the same for the whole prompt.
   */
  markComputed(id: SequenceId, numComputedTokens: number): void {
    const seq = this.resident(id, 'markComputed');
    if (!Number.isInteger(numComputedTokens) || numComputedTokens < 0 || numComputedTokens > seq.numTokens) {
      throw new InvalidTokensError(
        `markComputed(${String(id)}): numComputedTokens must be an integer in 0..${seq.numTokens} ` +
          `(the sequence's length), got ${numComputedTokens}.`,
      );
    }
    if (seq.pending) this.publishPending(seq, (numComputedTokens / this.blockSize) | 0);
  }

  /**
   * Creates `childId` sharing every block of `parentId` (parallel sampling, beam search). The
   * shared partly filled last block is split by whichever sequence appends to it first.
   */
  fork(parentId: SequenceId, childId: SequenceId): void {
    const op = 'fork';
    const parent = this.resident(parentId, op);
    if (this.sequences.has(childId)) throw new DuplicateSequenceError(childId, op);
    this.checkNoPendingToken(parent, op);
    const blocks = parent.blocks.slice();
    for (let i = 0; i < blocks.length; i++) this.gpu.retain(blocks[i]!);
    parent.lastMaybeShared = true;
    this.sequences.set(childId, {
      ...parent,
      id: childId,
      blocks,
      tail: parent.tail ? parent.tail.slice() : null,
    });
  }

  /**
   * Releases the sequence's blocks (in either pool). Registered blocks nobody else holds stay
   * cached; the sequence's last blocks are released first so they are evicted first.
   */
  free(id: SequenceId): void {
    const seq = this.sequences.get(id);
    if (!seq) throw new UnknownSequenceError(id, 'free');
    const pool = seq.location === 'gpu' ? this.gpu : this.host;
    const blocks = seq.blocks;
    for (let i = blocks.length - 1; i >= 0; i--) pool.release(blocks[i]!);
    this.sequences.delete(id);
  }

  // ---- swapping -----------------------------------------------------------------------------

  /**
   * Moves the sequences' blocks to the host pool (preemption by swapping). Pass sequences that
   * share blocks (a fork group) together so each shared block is copied once. The engine performs
   * the copies before this step's forward pass, since the GPU blocks may be reused right away.
   */
  swapOut(ids: readonly SequenceId[]): SwapPlan {
    return this.swap(ids, 'gpu', 'swapOut');
  }

  /** Moves swapped-out sequences back into fresh GPU blocks. */
  swapIn(ids: readonly SequenceId[]): SwapPlan {
    return this.swap(ids, 'host', 'swapIn');
  }

  canSwapOut(ids: readonly SequenceId[]): boolean {
    return this.distinctBlocks(this.swapGroup(ids, 'gpu', 'canSwapOut')).size <= this.host.availableBlocks;
  }

  canSwapIn(ids: readonly SequenceId[]): boolean {
    return this.distinctBlocks(this.swapGroup(ids, 'host', 'canSwapIn')).size <= this.gpu.availableBlocks;
  }

  // ---- admission checks ---------------------------------------------------------------------

  /**
   * Whether allocate() would succeed now, later (after frees), or never (prompt exceeds the pool),
   * leaving at least `reserveBlocks` blocks available. Counts prefix hits: a hit on a block in use
   * costs nothing, a hit on a cached unreferenced block takes it out of the available ones.
   */
  canAllocate(promptTokens: ArrayLike<number>, options: CanAllocateOptions = {}): AllocationStatus {
    const op = 'canAllocate';
    checkTokens(promptTokens, op);
    const reserve = options.reserveBlocks ?? 0;
    if (!Number.isInteger(reserve) || reserve < 0 || reserve > this.numBlocks) {
      throw new KvCacheOptionsError(
        `${op}: reserveBlocks must be an integer in 0..${this.numBlocks} (numBlocks), got ${reserve}.`,
      );
    }
    const totalBlocks = Math.ceil(promptTokens.length / this.blockSize);
    if (totalBlocks > this.numBlocks - reserve) return 'never';
    const match = this.cache ? this.matchPrefix(promptTokens, options.cacheKey ?? '') : null;
    const newBlocks = totalBlocks - (match ? match.blocks.length : 0);
    const available = this.gpu.availableBlocks - (match ? match.evictableHits : 0) - reserve;
    return newBlocks <= available ? 'ok' : 'later';
  }

  /** Whether append() of `numTokens` tokens would succeed now. */
  canAppend(id: SequenceId, numTokens = 1): boolean {
    const seq = this.resident(id, 'canAppend');
    const mustCopy = this.lastBlockShared(seq);
    const needed =
      Math.ceil((seq.numTokens + numTokens) / this.blockSize) - seq.blocks.length + (mustCopy ? 1 : 0);
    return needed <= this.gpu.availableBlocks;
  }

  // ---- prefix cache -------------------------------------------------------------------------

  /** Evicts up to `maxBlocks` unreferenced cached blocks, least recently used first. */
  evictCachedBlocks(maxBlocks = Number.POSITIVE_INFINITY): number {
    return this.gpu.evict(maxBlocks);
  }

  prefixCacheStats(): PrefixCacheStats {
    return {
      enabled: this.cache !== null,
      queries: this.queries,
      queryTokens: this.queryTokens,
      hitTokens: this.hitTokens,
      queryBlocks: this.queryBlocks,
      hitBlocks: this.hitBlocks,
      evictions: this.gpu.evictions - this.evictionsAtReset,
      registeredBlocks: this.cache ? this.cache.size : 0,
    };
  }

  resetPrefixCacheStats(): void {
    this.queries = 0;
    this.queryTokens = 0;
    this.hitTokens = 0;
    this.queryBlocks = 0;
    this.hitBlocks = 0;
    this.evictionsAtReset = this.gpu.evictions;
  }

  // ---- inspection ---------------------------------------------------------------------------

  usage(): KvCacheUsage {
    const used = this.gpu.usedBlocks;
    return {
      totalBlocks: this.numBlocks,
      usedBlocks: used,
      freeBlocks: this.gpu.freeBlocks,
      cachedBlocks: this.gpu.cachedBlocks,
      availableBlocks: this.gpu.availableBlocks,
      usage: used / this.numBlocks,
      numSequences: this.sequences.size,
      hostTotalBlocks: this.numHostBlocks,
      hostUsedBlocks: this.host.usedBlocks,
    };
  }

  get numSequences(): number {
    return this.sequences.size;
  }

  has(id: SequenceId): boolean {
    return this.sequences.has(id);
  }

  /** Physical block ids (in the pool `location` names), logical order. Valid until the next call. */
  blockTable(id: SequenceId): readonly number[] {
    return this.get(id, 'blockTable').blocks;
  }

  numTokens(id: SequenceId): number {
    return this.get(id, 'numTokens').numTokens;
  }

  location(id: SequenceId): BlockPoolName {
    return this.get(id, 'location').location;
  }

  /** Slot of position `position` of a resident sequence. */
  slotOf(id: SequenceId, position: number): number {
    const seq = this.resident(id, 'slotOf');
    if (!Number.isInteger(position) || position < 0 || position >= seq.numTokens) {
      throw new InvalidTokensError(
        `slotOf(${String(id)}): position must be an integer in 0..${seq.numTokens - 1}, got ${position}.`,
      );
    }
    const bs = this.blockSize;
    return seq.blocks[(position / bs) | 0]! * bs + (position % bs);
  }

  refCount(gpuBlock: number): number {
    return this.gpu.refCounts[gpuBlock] ?? 0;
  }

  hostRefCount(hostBlock: number): number {
    return this.host.refCounts[hostBlock] ?? 0;
  }

  blockState(gpuBlock: number): BlockState {
    if (this.gpu.isFree(gpuBlock)) return 'free';
    return this.gpu.refCounts[gpuBlock]! > 0 ? 'used' : 'cached';
  }

  /** Token ids a cached (registered) GPU block holds, or null when it is not registered. */
  cachedBlockTokens(gpuBlock: number): number[] | null {
    return this.cache?.isRegistered(gpuBlock) ? this.cache.blockTokens(gpuBlock) : null;
  }

  /**
   * Every GPU block, by block id: its state and which resident sequences hold it. A snapshot for
   * live views of the pool; O(blocks + table entries), so call it once per step at most.
   */
  blockMap(): BlockMapEntry[] {
    const owners: SequenceId[][] = Array.from({ length: this.numBlocks }, () => []);
    for (const seq of this.sequences.values()) {
      if (seq.location !== 'gpu') continue;
      for (const block of seq.blocks) owners[block]!.push(seq.id);
    }
    return owners.map((held, block) => ({
      state: this.blockState(block),
      refCount: this.gpu.refCounts[block]!,
      owners: held,
      cached: this.cache?.isRegistered(block) ?? false,
    }));
  }

  /** The free list, next block handed out first. O(blocks): for tests and debugging. */
  freeBlockList(): number[] {
    return this.gpu.freeList();
  }

  /** Unreferenced cached blocks, next evicted first. O(blocks): for tests and debugging. */
  cachedBlocksInEvictionOrder(): number[] {
    return this.gpu.cachedInEvictionOrder();
  }

  /**
   * Recounts every reference from the block tables and checks each pool's states against them.
   * O(blocks + table entries): for tests and debugging. Throws KvCacheInvariantError.
   */
  checkInvariants(): void {
    this.checkPool(this.gpu, 'gpu');
    this.checkPool(this.host, 'host');
  }

  // ---- internals ----------------------------------------------------------------------------

  private get(id: SequenceId, op: string): SequenceState {
    const seq = this.sequences.get(id);
    if (!seq) throw new UnknownSequenceError(id, op);
    return seq;
  }

  private resident(id: SequenceId, op: string): SequenceState {
    const seq = this.get(id, op);
    if (seq.location !== 'gpu') throw new SequenceLocationError(id, seq.location, op);
    return seq;
  }

  private ensureAvailable(needed: number, seq: SequenceState, op: string): void {
    if (needed > this.gpu.availableBlocks) {
      throw new KvCacheExhaustedError(
        'gpu',
        needed,
        this.gpu.availableBlocks,
        this.numBlocks,
        `${op}(${String(seq.id)})`,
      );
    }
  }

  /** Whether the next token would land in a block another sequence also holds. */
  private lastBlockShared(seq: SequenceState): boolean {
    // Reading the refcount is a cache miss per call on a large pool: skip it unless a fork may
    // have shared the last block since it was last found private. Swapping keeps or narrows
    // sharing (the copies are shared only inside the swapped group), so it needs no flag.
    if (!seq.lastMaybeShared || seq.numTokens % this.blockSize === 0) return false;
    if (this.gpu.refCounts[seq.blocks[seq.blocks.length - 1]!]! > 1) return true;
    seq.lastMaybeShared = false;
    return false;
  }

  /** Copy-on-write: gives the sequence a private copy of its shared, partly filled last block. */
  private splitLastBlock(seq: SequenceState): BlockCopy {
    const last = seq.blocks.length - 1;
    const src = seq.blocks[last]!;
    const dst = this.gpu.acquire();
    this.gpu.release(src);
    seq.blocks[last] = dst;
    seq.lastMaybeShared = false;
    return { src, dst };
  }

  /** Reserves the slot of the next position (capacity already checked, last block private). */
  private checkNoPendingToken(seq: SequenceState, op: string): void {
    if (seq.pendingTokenAt < 0) return;
    throw new InvalidTokensError(
      `${op}(${String(seq.id)}): position ${seq.pendingTokenAt} holds a pending token; ` +
        'resolvePendingToken() must name it first.',
    );
  }

  private place(seq: SequenceState, tokenId: number): number {
    const bs = this.blockSize;
    const p = seq.numTokens;
    const o = p % bs;
    const blocks = seq.blocks;
    if (o === 0) {
      blocks.push(this.gpu.acquire());
      seq.lastMaybeShared = false;
    }
    const index = blocks.length - 1;
    const tail = seq.tail;
    if (tail) {
      tail[o] = tokenId;
      if (o === bs - 1 && tokenId !== PENDING_TOKEN) this.publishBlock(seq, index, tail, 0);
    }
    seq.numTokens = p + 1;
    return blocks[index]! * bs + o;
  }

  /** The longest verified run of cached full blocks at the start of the prompt. */
  private matchPrefix(tokens: ArrayLike<number>, cacheKey: string): PrefixMatch {
    const cache = this.cache!;
    const bs = this.blockSize;
    // The last prompt token is always recomputed: its logits start decoding.
    const maxHits = ((tokens.length - 1) / bs) | 0;
    const blocks: number[] = [];
    let evictableHits = 0;
    let chainHash = rootBlockHash(cacheKey);
    let chainBlock = -1;
    let chainGeneration = 0;
    for (let i = 0; i < maxHits; i++) {
      const hash = chainBlockHash(chainHash, tokens, i * bs, bs);
      const block = cache.find(hash);
      if (block < 0) break;
      if (!cache.matches(block, chainBlock, chainGeneration, cacheKey, tokens, i * bs)) {
        if (cache.isStale(block)) this.gpu.uncache(block);
        break;
      }
      blocks.push(block);
      if (this.gpu.refCounts[block] === 0) evictableHits++;
      chainHash = hash;
      chainBlock = block;
      chainGeneration = cache.generation(block);
    }
    return { blocks, evictableHits, chainHash, chainBlock, chainGeneration };
  }

  private publishPending(seq: SequenceState, upToBlock: number): void {
    const pending = seq.pending!;
    const bs = this.blockSize;
    const first = seq.pendingFirstBlock;
    const last = Math.min(upToBlock, first + pending.length / bs);
    for (let i = seq.publishedBlocks; i < last; i++) this.publishBlock(seq, i, pending, (i - first) * bs);
    if (seq.publishedBlocks >= first + pending.length / bs) seq.pending = null;
  }

  /** Offers full logical block `index` (tokens at `tokens[start..]`) to the prefix cache. */
  private publishBlock(seq: SequenceState, index: number, tokens: ArrayLike<number>, start: number): void {
    seq.publishedBlocks = index + 1;
    if (!seq.chainOk) return;
    const cache = this.cache!;
    const parent = seq.chainBlock;
    const parentGeneration = seq.chainGeneration;
    if (parent >= 0 && cache.generation(parent) !== parentGeneration) {
      // The parent's canonical block was evicted while this sequence held a private duplicate.
      seq.chainOk = false;
      return;
    }
    const hash = chainBlockHash(seq.chainHash, tokens, start, this.blockSize);
    let canonical = cache.find(hash);
    if (canonical >= 0 && !cache.matches(canonical, parent, parentGeneration, seq.cacheKey, tokens, start)) {
      if (!cache.isStale(canonical)) {
        seq.chainOk = false;
        return;
      }
      this.gpu.uncache(canonical);
      canonical = -1;
    }
    if (canonical < 0) {
      canonical = seq.blocks[index]!;
      cache.register(canonical, hash, parent, parentGeneration, seq.cacheKey, tokens, start);
    }
    seq.chainHash = hash;
    seq.chainBlock = canonical;
    seq.chainGeneration = cache.generation(canonical);
  }

  private swapGroup(ids: readonly SequenceId[], from: BlockPoolName, op: string): SequenceState[] {
    const group: SequenceState[] = [];
    const seen = new Set<SequenceId>();
    for (const id of ids) {
      if (seen.has(id)) throw new DuplicateSequenceError(id, op);
      seen.add(id);
      const seq = this.get(id, op);
      if (seq.location !== from) throw new SequenceLocationError(id, seq.location, op);
      group.push(seq);
    }
    return group;
  }

  private distinctBlocks(group: readonly SequenceState[]): Set<number> {
    const distinct = new Set<number>();
    for (const seq of group) for (const b of seq.blocks) distinct.add(b);
    return distinct;
  }

  private swap(ids: readonly SequenceId[], from: BlockPoolName, op: string): SwapPlan {
    const group = this.swapGroup(ids, from, op);
    for (const seq of group) this.checkNoPendingToken(seq, op);
    const src = from === 'gpu' ? this.gpu : this.host;
    const dst = from === 'gpu' ? this.host : this.gpu;
    const to: BlockPoolName = from === 'gpu' ? 'host' : 'gpu';
    const needed = this.distinctBlocks(group).size;
    if (needed > dst.availableBlocks) {
      throw new KvCacheExhaustedError(
        to,
        needed,
        dst.availableBlocks,
        dst.numBlocks,
        `${op}(${ids.length} sequences)`,
      );
    }
    const mapping = new Map<number, number>();
    const copies: SwapCopy[] = [];
    for (const seq of group) {
      const blocks = seq.blocks;
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[i]!;
        let target = mapping.get(block);
        if (target === undefined) {
          target = dst.acquire();
          mapping.set(block, target);
          copies.push(
            to === 'host' ? { gpuBlock: block, hostBlock: target } : { gpuBlock: target, hostBlock: block },
          );
        } else {
          dst.retain(target);
        }
        src.release(block);
        blocks[i] = target;
      }
      seq.location = to;
    }
    return { direction: to === 'host' ? 'out' : 'in', copies };
  }

  private checkPool(pool: BlockPool, name: BlockPoolName): void {
    const counts = new Int32Array(pool.numBlocks);
    for (const seq of this.sequences.values()) {
      if (seq.location !== name) continue;
      for (const b of seq.blocks) counts[b]!++;
    }
    let free = 0;
    let cached = 0;
    for (let b = 0; b < pool.numBlocks; b++) {
      const rc = pool.refCounts[b]!;
      if (rc !== counts[b]) {
        throw new KvCacheInvariantError(
          `${name} block ${b}: refCount ${rc} but ${counts[b]} block tables hold it`,
        );
      }
      const isFree = pool.isFree(b);
      const isCached = pool.isEvictable(b);
      if (rc > 0 && (isFree || isCached)) {
        throw new KvCacheInvariantError(`${name} block ${b} is referenced but on the free or cached list`);
      }
      if (rc === 0 && isFree === isCached) {
        throw new KvCacheInvariantError(`${name} block ${b} is unreferenced but not on exactly one list`);
      }
      if (isCached && !pool.cache?.isRegistered(b)) {
        throw new KvCacheInvariantError(`${name} block ${b} is on the cached list but not registered`);
      }
      if (isFree) free++;
      if (isCached) cached++;
    }
    if (free !== pool.freeBlocks || cached !== pool.cachedBlocks) {
      throw new KvCacheInvariantError(`${name} pool counters disagree with its lists`);
    }
  }
}

function isTokenId(t: number): boolean {
  return Number.isInteger(t) && t >= 0 && t <= 0x7fffffff;
}

function badToken(op: string, index: number, t: number): InvalidTokensError {
  return new InvalidTokensError(
    `${op}: token id at index ${index} is ${t}; token ids must be integers in 0..2^31-1.`,
  );
}

function checkTokens(tokens: ArrayLike<number>, op: string): void {
  const n = tokens.length;
  if (n === 0) throw new InvalidTokensError(`${op}: no tokens given; pass at least one token id.`);
  for (let i = 0; i < n; i++) if (!isTokenId(tokens[i]!)) throw badToken(op, i, tokens[i]!);
}

function copyTokens(tokens: ArrayLike<number>, start: number, end: number): Int32Array {
  const out = new Int32Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = tokens[i]!;
  return out;
}
