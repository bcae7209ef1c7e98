import { describe, expect, it } from 'vitest';
import {
  DuplicateSequenceError,
  InvalidTokensError,
  KvCacheExhaustedError,
  KvCacheManager,
  KvCacheOptionsError,
  PENDING_TOKEN,
  SequenceLocationError,
  UnknownSequenceError,
} from './index.js';

/** Distinct, non-zero token ids: [start, start + n). */
function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

describe('KvCacheManager: block tables and slots', () => {
  it('hands out slot = block * blockSize + offset for every prompt and generated token', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4 });
    const { numCachedTokens, slots } = kv.allocate('a', range(100, 6));
    expect(numCachedTokens).toBe(0);
    const table = kv.blockTable('a');
    expect(table).toHaveLength(2);
    expect(Array.from(slots)).toEqual(
      [0, 1, 2, 3].map((o) => table[0]! * 4 + o).concat([0, 1].map((o) => table[1]! * 4 + o)),
    );
    const r = kv.append('a', [7, 8, 9]);
    expect(r.copy).toBeNull();
    const t2 = kv.blockTable('a');
    expect(t2).toHaveLength(3);
    expect(Array.from(r.slots)).toEqual([t2[1]! * 4 + 2, t2[1]! * 4 + 3, t2[2]! * 4 + 0]);
    expect(kv.numTokens('a')).toBe(9);
    expect(kv.slotOf('a', 8)).toBe(t2[2]! * 4);
  });

  it('takes a new block only when the last one is full', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4 });
    kv.allocate(1, range(1, 4));
    expect(kv.usage().usedBlocks).toBe(1);
    kv.append(1, [9]);
    expect(kv.usage().usedBlocks).toBe(2);
    kv.append(1, [9, 9, 9]);
    expect(kv.usage().usedBlocks).toBe(2);
  });

  it('returns every block to the free list on free when prefix caching is off', () => {
    const kv = new KvCacheManager({ numBlocks: 6, blockSize: 2, enablePrefixCaching: false });
    kv.allocate('x', range(1, 7));
    kv.allocate('y', range(50, 3));
    kv.free('x');
    kv.free('y');
    expect(kv.usage()).toMatchObject({ usedBlocks: 0, freeBlocks: 6, cachedBlocks: 0, usage: 0 });
    kv.checkInvariants();
  });
});

describe('KvCacheManager: fork and copy-on-write', () => {
  it('shares all blocks on fork and splits the partly filled last block on the first append', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4 });
    kv.allocate('p', range(1, 6));
    kv.fork('p', 'c');
    const shared = kv.blockTable('p').slice();
    expect(kv.blockTable('c')).toEqual(shared);
    for (const b of shared) expect(kv.refCount(b)).toBe(2);

    const r = kv.append('c', [42]);
    expect(r.copy).toEqual({ src: shared[1], dst: kv.blockTable('c')[1] });
    expect(kv.blockTable('c')[0]).toBe(shared[0]);
    expect(kv.refCount(shared[0]!)).toBe(2);
    expect(kv.refCount(shared[1]!)).toBe(1);
    expect(kv.refCount(r.copy!.dst)).toBe(1);
    expect(Math.floor(r.slots[0]! / 4)).toBe(r.copy!.dst);

    // The parent now owns its last block alone: appends write in place.
    const rp = kv.append('p', [43]);
    expect(rp.copy).toBeNull();
    expect(Math.floor(rp.slots[0]! / 4)).toBe(shared[1]);
    kv.checkInvariants();
  });

  it("reports the split on the decode fast path through the caller's copy list", () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4 });
    kv.allocate('p', range(1, 3));
    kv.fork('p', 'c');
    const copies: { src: number; dst: number }[] = [];
    const shared = kv.blockTable('p')[0]!;
    const slotC = kv.appendToken('c', 9, copies);
    expect(copies).toEqual([{ src: shared, dst: kv.blockTable('c')[0] }]);
    expect(slotC).toBe(kv.blockTable('c')[0]! * 4 + 3);
    expect(kv.appendToken('p', 8, copies)).toBe(shared * 4 + 3);
    expect(kv.appendToken('p', 7, copies)).toBe(kv.blockTable('p')[1]! * 4);
    expect(copies).toHaveLength(1);
    expect(() => kv.appendToken('p', -3, copies)).toThrow(InvalidTokensError);
    kv.checkInvariants();
  });

  it('does not copy when the shared last block is full', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4 });
    kv.allocate('p', range(1, 8));
    kv.fork('p', 'c');
    const r = kv.append('c', [1]);
    expect(r.copy).toBeNull();
    expect(kv.usage().usedBlocks).toBe(3);
  });

  it('frees shared blocks only when the last holder goes', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4, enablePrefixCaching: false });
    kv.allocate('p', range(1, 5));
    kv.fork('p', 'c');
    kv.free('p');
    expect(kv.usage().usedBlocks).toBe(2);
    kv.free('c');
    expect(kv.usage().usedBlocks).toBe(0);
  });
});

describe('KvCacheManager: block map', () => {
  it('maps every block to its holders: shared after a fork, split by copy-on-write, cached once freed', () => {
    const kv = new KvCacheManager({ numBlocks: 6, blockSize: 4 });
    kv.allocate('p', range(1, 6));
    kv.markComputed('p', 6);
    kv.fork('p', 'c');
    const [full, last] = kv.blockTable('p');
    let map = kv.blockMap();
    expect(map).toHaveLength(6);
    expect(map[full!]).toEqual({ state: 'used', refCount: 2, owners: ['p', 'c'], cached: true });
    expect(map[last!]).toMatchObject({ state: 'used', refCount: 2, owners: ['p', 'c'], cached: false });
    expect(map.filter((b) => b.state === 'free')).toHaveLength(4);

    const { copy } = kv.append('c', [42]);
    map = kv.blockMap();
    expect(map[last!]!.owners).toEqual(['p']);
    expect(map[copy!.dst]!.owners).toEqual(['c']);

    kv.free('p');
    kv.free('c');
    map = kv.blockMap();
    expect(map[full!]).toEqual({ state: 'cached', refCount: 0, owners: [], cached: true });
    expect(map.filter((b) => b.state === 'used')).toEqual([]);
  });
});

describe('KvCacheManager: prefix cache', () => {
  it('lets the second of two requests sharing a long prefix skip the cached blocks', () => {
    const kv = new KvCacheManager({ numBlocks: 64, blockSize: 16 });
    const system = range(1000, 512);
    const first = kv.allocate('r1', [...system, ...range(1, 40)]);
    expect(first.numCachedTokens).toBe(0);
    kv.append('r1', [5]); // first decode step: the prompt's K/V is computed, its blocks are published

    const second = kv.allocate('r2', [...system, ...range(2000, 25)]);
    expect(second.numCachedTokens).toBe(512);
    expect(second.slots).toHaveLength(25);
    expect(kv.blockTable('r2').slice(0, 32)).toEqual(kv.blockTable('r1').slice(0, 32));
    const stats = kv.prefixCacheStats();
    expect(stats).toMatchObject({ queries: 2, hitBlocks: 32, hitTokens: 512, queryTokens: 552 + 537 });
    expect(stats.queryBlocks).toBe(34 + 33);
  });

  it('always recomputes the last prompt token, even when the whole prompt is cached', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(10, 12);
    kv.allocate('a', prompt);
    kv.markComputed('a', 12);
    const r = kv.allocate('b', prompt);
    expect(r.numCachedTokens).toBe(8);
    expect(r.slots).toHaveLength(4);
    // The recomputed last block is a private duplicate: never shared while being written.
    expect(kv.blockTable('b')[2]).not.toBe(kv.blockTable('a')[2]);
    expect(kv.refCount(kv.blockTable('b')[2]!)).toBe(1);
    kv.checkInvariants();
  });

  it('publishes prompt blocks only once their K/V is declared computed', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(10, 13);
    kv.allocate('a', prompt);
    expect(kv.allocate('b', prompt).numCachedTokens).toBe(0);
    kv.markComputed('a', 5); // chunked prefill: only the first block is complete
    expect(kv.allocate('c', prompt).numCachedTokens).toBe(4);
    kv.markComputed('a', 13);
    expect(kv.allocate('d', prompt).numCachedTokens).toBe(12);
  });

  it('caches blocks filled by generated tokens', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    kv.allocate('a', [1, 2, 3]);
    kv.append('a', [4]);
    kv.append('a', [5, 6, 7, 8, 9]);
    const r = kv.allocate('b', [1, 2, 3, 4, 5, 6, 7, 8, 77]);
    expect(r.numCachedTokens).toBe(8);
  });

  it("takes a pending token's slot at once and publishes the block it fills only once the token is named", () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    kv.allocate('a', [1, 2, 3]);
    const slot = kv.appendToken('a', PENDING_TOKEN, []);
    expect(slot).toBe(kv.slotOf('a', 3));
    expect(kv.numTokens('a')).toBe(4);
    expect(kv.hasPendingToken('a')).toBe(true);
    // Full, but its last token is unknown: not offered to the prefix cache yet.
    expect(kv.allocate('b', [1, 2, 3, 4, 9]).numCachedTokens).toBe(0);
    kv.resolvePendingToken('a', 4);
    expect(kv.hasPendingToken('a')).toBe(false);
    expect(kv.allocate('c', [1, 2, 3, 4, 9]).numCachedTokens).toBe(4);
    // The same chain as appending the token itself: later blocks keep matching.
    kv.appendToken('a', PENDING_TOKEN, []);
    kv.resolvePendingToken('a', 5);
    kv.append('a', [6, 7, 8]);
    expect(kv.allocate('d', [1, 2, 3, 4, 5, 6, 7, 8, 9]).numCachedTokens).toBe(8);
    kv.checkInvariants();
  });

  it('refuses to append, fork or swap a sequence whose pending token is unnamed, and to name one that is not pending', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4, numHostBlocks: 8 });
    kv.allocate('a', [1, 2, 3]);
    expect(() => kv.resolvePendingToken('a', 4)).toThrow(/has no pending token/);
    kv.appendToken('a', PENDING_TOKEN, []);
    expect(() => kv.appendToken('a', PENDING_TOKEN, [])).toThrow(/position 3 holds a pending token/);
    expect(() => kv.append('a', [5])).toThrow(InvalidTokensError);
    expect(() => kv.fork('a', 'b')).toThrow(InvalidTokensError);
    expect(() => kv.swapOut(['a'])).toThrow(InvalidTokensError);
    expect(() => kv.resolvePendingToken('a', -1)).toThrow(InvalidTokensError);
    kv.resolvePendingToken('a', 4);
    kv.append('a', [5]);
    // Freeing a sequence with a pending token is fine: its blocks are simply not cached.
    kv.appendToken('a', PENDING_TOKEN, []);
    kv.free('a');
    kv.checkInvariants();
  });

  it('extends a cached prefix with the blocks of a request that hit it', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [0]);
    expect(kv.allocate('b', [1, 2, 3, 4, 6, 7, 8]).numCachedTokens).toBe(4);
    kv.append('b', [0]);
    expect(kv.allocate('c', [1, 2, 3, 4, 6, 7, 8, 0, 10]).numCachedTokens).toBe(8);
  });

  it('replaces a cached block whose parent was evicted when the same content is computed again', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 2 });
    kv.allocate('a', [1, 2, 3]);
    kv.markComputed('a', 3); // registers a0 = [1, 2]
    kv.allocate('y', [1, 2]); // private duplicate of [1, 2]: the last prompt token is recomputed
    kv.append('y', [7, 8]); // registers [7, 8] as the child of a0
    kv.free('a');
    expect(kv.evictCachedBlocks(1)).toBe(1); // a0 goes; [7, 8] is now unreachable
    kv.free('y');
    expect(kv.allocate('z', [1, 2, 7, 8, 9]).numCachedTokens).toBe(0);
    kv.append('z', [0]);
    expect(kv.allocate('w', [1, 2, 7, 8, 9]).numCachedTokens).toBe(4);
    kv.checkInvariants();
  });

  it('never shares blocks across different cache keys', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(1, 9);
    kv.allocate('a', prompt, { cacheKey: 'lora-1' });
    kv.append('a', [0]);
    expect(kv.allocate('b', prompt, { cacheKey: 'lora-2' }).numCachedTokens).toBe(0);
    expect(kv.allocate('c', prompt).numCachedTokens).toBe(0);
    expect(kv.allocate('d', prompt, { cacheKey: 'lora-1' }).numCachedTokens).toBe(8);
  });

  it('stops at the first differing block even when later blocks agree', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5, 6, 7]);
    kv.append('a', [8]);
    expect(kv.allocate('b', [1, 2, 9, 9, 5, 6, 7]).numCachedTokens).toBe(2);
  });

  it('keeps freed cached blocks reusable while reporting usage 0', () => {
    const kv = new KvCacheManager({ numBlocks: 10, blockSize: 4 });
    const prompt = range(1, 16);
    kv.allocate('a', prompt);
    kv.append('a', [99]);
    kv.free('a');
    const u = kv.usage();
    expect(u).toMatchObject({
      usedBlocks: 0,
      usage: 0,
      cachedBlocks: 4,
      freeBlocks: 6,
      availableBlocks: 10,
      numSequences: 0,
    });
    expect(kv.allocate('b', prompt).numCachedTokens).toBe(12);
    kv.free('b');
    expect(kv.usage().usage).toBe(0);
    kv.checkInvariants();
  });

  it('evicts least recently used cached blocks first, a freed sequence tail before its head', () => {
    const kv = new KvCacheManager({ numBlocks: 6, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [6]);
    const [a0, a1, a2] = kv.blockTable('a');
    kv.free('a');
    expect(kv.cachedBlocksInEvictionOrder()).toEqual([a2, a1, a0]);

    kv.allocate('b', [11, 12, 13]);
    kv.append('b', [14]);
    const [b0, b1] = kv.blockTable('b');
    kv.free('b');
    expect(kv.cachedBlocksInEvictionOrder()).toEqual([a2, a1, a0, b1, b0]);

    // A hit revives a0 and moves it to the most recent end when released again.
    kv.allocate('c', [1, 2, 7]);
    kv.free('c');
    expect(kv.cachedBlocksInEvictionOrder().slice(0, 4)).toEqual([a2, a1, b1, b0]);

    // The free list holds one block; the next two acquisitions evict a2, then a1.
    expect(kv.freeBlockList()).toHaveLength(1);
    kv.allocate('d', [31, 32, 33, 34, 35]);
    expect(kv.blockTable('d')).toContain(a2);
    expect(kv.blockTable('d')).toContain(a1);
    expect(kv.prefixCacheStats().evictions).toBe(2);
    expect(kv.allocate('e', [1, 2, 3, 4, 5]).numCachedTokens).toBe(2);
    kv.checkInvariants();
  });

  it('evicts on request and then misses', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [6]);
    kv.free('a');
    expect(kv.evictCachedBlocks(1)).toBe(1);
    expect(kv.evictCachedBlocks()).toBe(2);
    expect(kv.usage()).toMatchObject({ cachedBlocks: 0, freeBlocks: 8 });
    expect(kv.allocate('b', [1, 2, 3, 4, 5]).numCachedTokens).toBe(0);
  });

  it('counts evictable hits against the blocks an allocation may take', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [6]);
    kv.free('a');
    // 3 cached + 1 free; prompt of 4 blocks reusing 2 cached needs 2 more: fits.
    expect(kv.canAllocate([1, 2, 3, 4, 9, 9, 9])).toBe('ok');
    kv.allocate('b', [1, 2, 3, 4, 9, 9, 9]);
    expect(kv.usage().usedBlocks).toBe(4);
    kv.checkInvariants();
  });

  it('keeps reserveBlocks available when asked, counting prefix hits (a scheduler watermark)', () => {
    const kv = new KvCacheManager({ numBlocks: 6, blockSize: 2 });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [6]);
    // 'a' holds 3 blocks, 3 free. [1,2,3,4,7] hits 2 blocks in use: it needs 1 new block.
    expect(kv.canAllocate([1, 2, 3, 4, 7], { reserveBlocks: 2 })).toBe('ok');
    expect(kv.canAllocate([1, 2, 3, 4, 7], { reserveBlocks: 3 })).toBe('later');
    expect(kv.canAllocate([9, 9, 9, 9, 9], { reserveBlocks: 0 })).toBe('ok');
    expect(kv.canAllocate([9, 9, 9, 9, 9], { reserveBlocks: 1 })).toBe('later');
    // 4 blocks can never fit when 3 of 6 must stay free.
    expect(kv.canAllocate(range(10, 8), { reserveBlocks: 3 })).toBe('never');
    expect(() => kv.canAllocate([1], { reserveBlocks: 7 })).toThrow(
      /reserveBlocks must be an integer in 0\.\.6/,
    );
    expect(() => kv.canAllocate([1], { reserveBlocks: -1 })).toThrow(KvCacheOptionsError);
  });

  it('reports no hits and no queries when prefix caching is off', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 2, enablePrefixCaching: false });
    kv.allocate('a', [1, 2, 3, 4, 5]);
    kv.append('a', [6]);
    expect(kv.allocate('b', [1, 2, 3, 4, 5]).numCachedTokens).toBe(0);
    expect(kv.prefixCacheStats()).toMatchObject({
      enabled: false,
      queries: 0,
      hitTokens: 0,
      registeredBlocks: 0,
    });
  });
});

describe('KvCacheManager: swapping', () => {
  it('plans copies to the host and back, each shared block once', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4, numHostBlocks: 8 });
    kv.allocate('p', range(1, 6));
    kv.fork('p', 'c');
    kv.append('c', [7]);
    const gpuP = kv.blockTable('p').slice();
    const gpuC = kv.blockTable('c').slice();

    const out = kv.swapOut(['p', 'c']);
    expect(out.direction).toBe('out');
    expect(out.copies).toHaveLength(3);
    expect(new Set(out.copies.map((c) => c.gpuBlock))).toEqual(new Set([...gpuP, ...gpuC]));
    expect(kv.location('p')).toBe('host');
    expect(kv.usage()).toMatchObject({ usedBlocks: 0, hostUsedBlocks: 3 });
    const hostP = kv.blockTable('p');
    expect(kv.hostRefCount(hostP[0]!)).toBe(2);
    expect(() => kv.append('p', [1])).toThrow(SequenceLocationError);

    const back = kv.swapIn(['p', 'c']);
    expect(back.direction).toBe('in');
    expect(back.copies).toHaveLength(3);
    expect(kv.location('c')).toBe('gpu');
    expect(kv.usage()).toMatchObject({ usedBlocks: 3, hostUsedBlocks: 0 });
    expect(kv.refCount(kv.blockTable('p')[0]!)).toBe(2);
    kv.checkInvariants();
  });

  it('refuses to swap out beyond the host pool and changes nothing', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4, numHostBlocks: 1 });
    kv.allocate('a', range(1, 6));
    expect(kv.canSwapOut(['a'])).toBe(false);
    expect(() => kv.swapOut(['a'])).toThrow(KvCacheExhaustedError);
    expect(kv.location('a')).toBe('gpu');
    expect(kv.usage().usedBlocks).toBe(2);
    kv.checkInvariants();
  });

  it('frees a swapped-out sequence from the host pool', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4, numHostBlocks: 4 });
    kv.allocate('a', range(1, 6));
    kv.swapOut(['a']);
    kv.free('a');
    expect(kv.usage()).toMatchObject({ usedBlocks: 0, hostUsedBlocks: 0, numSequences: 0 });
  });
});

describe('KvCacheManager: errors', () => {
  it('throws KvCacheExhaustedError without changing anything', () => {
    const kv = new KvCacheManager({ numBlocks: 3, blockSize: 4 });
    kv.allocate('a', range(1, 8));
    const before = kv.usage();
    expect(() => kv.allocate('b', range(50, 9))).toThrow(KvCacheExhaustedError);
    expect(kv.has('b')).toBe(false);
    kv.append('a', [1, 2, 3, 4]);
    expect(() => kv.append('a', [5])).toThrow(/needs 1 gpu KV blocks but only 0 of 3/);
    expect(kv.numTokens('a')).toBe(12);
    expect(kv.usage()).toEqual({ ...before, usedBlocks: 3, freeBlocks: 0, availableBlocks: 0, usage: 1 });
    expect(kv.canAppend('a')).toBe(false);
    expect(kv.canAllocate(range(1, 12))).toBe('later');
    expect(kv.canAllocate(range(1, 13))).toBe('never');
  });

  it('names the sequence and the fix for unknown and duplicate ids', () => {
    const kv = new KvCacheManager({ numBlocks: 4 });
    kv.allocate(7, [1]);
    expect(() => kv.allocate(7, [1])).toThrow(DuplicateSequenceError);
    expect(() => kv.fork(7, 7)).toThrow(DuplicateSequenceError);
    expect(() => kv.free(8)).toThrow(UnknownSequenceError);
    expect(() => kv.append('nope', [1])).toThrow(/sequence nope is not allocated/);
    kv.free(7);
    expect(() => kv.free(7)).toThrow(UnknownSequenceError);
  });

  it('rejects empty prompts and malformed token ids', () => {
    const kv = new KvCacheManager({ numBlocks: 4 });
    expect(() => kv.allocate('a', [])).toThrow(InvalidTokensError);
    expect(() => kv.allocate('a', [1, 2.5])).toThrow(/index 1 is 2.5/);
    expect(() => kv.allocate('a', [-1])).toThrow(InvalidTokensError);
    kv.allocate('a', [1]);
    expect(() => kv.append('a', [Number.NaN])).toThrow(InvalidTokensError);
    expect(() => kv.markComputed('a', 5)).toThrow(InvalidTokensError);
  });

  it('validates options and says which field is wrong', () => {
    expect(() => new KvCacheManager({ numBlocks: 0 })).toThrow(KvCacheOptionsError);
    expect(() => new KvCacheManager({ numBlocks: 4, blockSize: 2.5 })).toThrow(/blockSize/);
    expect(() => new KvCacheManager({ numBlocks: 2 ** 28, blockSize: 16 })).toThrow(/int32/);
    expect(() => new KvCacheManager({ numBlocks: 4, extra: 1 } as never)).toThrow(KvCacheOptionsError);
  });
});
