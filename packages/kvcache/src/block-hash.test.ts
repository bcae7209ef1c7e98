import { describe, expect, it } from 'vitest';
import { chainBlockHash, rootBlockHash } from './block-hash.js';

describe('chained block hashes', () => {
  it('depends on every token, their order, the parent and the extra key', () => {
    const root = rootBlockHash('');
    const tokens = [5, 6, 7, 8];
    const h = chainBlockHash(root, tokens, 0, 4);
    expect(chainBlockHash(root, [5, 6, 7, 8], 0, 4)).toBe(h);
    expect(chainBlockHash(root, [5, 6, 8, 7], 0, 4)).not.toBe(h);
    expect(chainBlockHash(root, [5, 6, 7, 9], 0, 4)).not.toBe(h);
    expect(chainBlockHash(h, tokens, 0, 4)).not.toBe(h);
    expect(chainBlockHash(rootBlockHash('lora-a'), tokens, 0, 4)).not.toBe(h);
    expect(chainBlockHash(root, [0, 5, 6, 7, 8], 1, 4)).toBe(h);
  });

  it('is a safe integer and rarely collides over many random blocks', () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % 32000;
    const seen = new Set<number>();
    let parent = rootBlockHash('');
    for (let i = 0; i < 20000; i++) {
      const h = chainBlockHash(parent, Array.from({ length: 16 }, next), 0, 16);
      expect(Number.isSafeInteger(h) && h >= 0).toBe(true);
      seen.add(h);
      parent = i % 7 === 0 ? rootBlockHash('') : h;
    }
    expect(seen.size).toBe(20000);
  });
});
