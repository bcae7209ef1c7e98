/**
 * Chained content hashes of full KV blocks. A block's hash covers its parent block's hash and its
 * own token ids, so equal hashes mean equal whole prefixes (up to collisions, which the prefix
 * cache rules out by comparing tokens and parent identity before it shares a block).
 *
 * Hashes are 53-bit integers so they are exact JavaScript numbers and fast Map keys: two 32-bit
 * multiplicative lanes (the cyrb53 construction) mixed at the end.
 */

const TWO_POW_32 = 4294967296;

function finish(h1: number, h2: number): number {
  let a = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  a ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  let b = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  b ^= Math.imul(a ^ (a >>> 13), 3266489909);
  return TWO_POW_32 * (0x1fffff & b) + (a >>> 0);
}

/**
 * The hash a sequence's first block chains from. `extraKey` separates caches that must not share
 * blocks although their tokens agree (a LoRA adapter id, a per-tenant cache salt); '' is none.
 */
export function rootBlockHash(extraKey: string): number {
  let h1 = 0x6a09e667;
  let h2 = 0xbb67ae85;
  for (let i = 0; i < extraKey.length; i++) {
    const c = extraKey.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return finish(h1, h2 ^ extraKey.length);
}

/** Hash of the block holding `tokens[start .. start + blockSize)` whose parent hashes to `parentHash`. */
export function chainBlockHash(
  parentHash: number,
  tokens: ArrayLike<number>,
  start: number,
  blockSize: number,
): number {
  let h1 = (parentHash >>> 0) ^ 0xdeadbeef;
  let h2 = Math.floor(parentHash / TWO_POW_32) ^ 0x41c6ce57;
  const end = start + blockSize;
  for (let i = start; i < end; i++) {
    const t = tokens[i]!;
    h1 = Math.imul(h1 ^ t, 2654435761);
    h2 = Math.imul(h2 ^ t, 1597334677);
  }
  return finish(h1, h2);
}
