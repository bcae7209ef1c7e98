import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KvCacheExhaustedError,
  KvCacheManager,
  SequenceLocationError,
  type BlockCopy,
  type SwapPlan,
} from './index.js';

/**
 * Random operation sequences against a shadow engine: it keeps the token id and position written
 * to every GPU and host slot, performs the copies the manager plans, and checks after each step
 * that every sequence reads back exactly its own tokens through its block table. Prompts come
 * from a few shared families over a tiny vocabulary so equal blocks (and prefix hits) are common.
 */

type Op =
  | { kind: 'allocate'; family: number; prefixLen: number; suffix: number[]; key: number }
  | { kind: 'append'; seq: number; tokens: number[] }
  | { kind: 'fork'; seq: number }
  | { kind: 'free'; seq: number }
  | { kind: 'evict'; n: number }
  | { kind: 'swapOut'; seq: number; other: number | null }
  | { kind: 'swapIn'; seq: number; other: number | null }
  | { kind: 'markComputed'; seq: number; fraction: number };

const token = fc.integer({ min: 0, max: 3 });
const seqPick = fc.nat(1000);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('allocate' as const),
      family: fc.nat(2),
      prefixLen: fc.nat(16),
      suffix: fc.array(token, { maxLength: 6 }),
      key: fc.nat(1),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      seq: seqPick,
      tokens: fc.array(token, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fork' as const), seq: seqPick }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), seq: seqPick }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('evict' as const), n: fc.integer({ min: 1, max: 4 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('swapOut' as const), seq: seqPick, other: fc.option(seqPick) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('swapIn' as const), seq: seqPick, other: fc.option(seqPick) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('markComputed' as const),
      seq: seqPick,
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

const configArb = fc.record({
  numBlocks: fc.integer({ min: 8, max: 40 }),
  blockSize: fc.integer({ min: 1, max: 4 }),
  numHostBlocks: fc.integer({ min: 0, max: 16 }),
  enablePrefixCaching: fc.boolean(),
});

const familiesArb = fc.array(fc.array(token, { minLength: 16, maxLength: 16 }), {
  minLength: 3,
  maxLength: 3,
});

function ensure(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

interface ShadowConfig {
  numBlocks: number;
  blockSize: number;
  numHostBlocks: number;
  enablePrefixCaching: boolean;
}

interface ShadowSequence {
  tokens: number[];
}

class ShadowEngine {
  readonly kv: KvCacheManager;
  readonly bs: number;
  readonly seqs = new Map<number, ShadowSequence>();
  private nextId = 0;
  // What a GPU/host slot holds: the token id and position written there, -1 = never written.
  private readonly gpuTok: Int32Array;
  private readonly gpuPos: Int32Array;
  private readonly hostTok: Int32Array;
  private readonly hostPos: Int32Array;

  constructor(readonly options: ShadowConfig) {
    this.kv = new KvCacheManager(options);
    this.bs = options.blockSize;
    this.gpuTok = new Int32Array(options.numBlocks * this.bs).fill(-1);
    this.gpuPos = new Int32Array(options.numBlocks * this.bs).fill(-1);
    this.hostTok = new Int32Array(options.numHostBlocks * this.bs).fill(-1);
    this.hostPos = new Int32Array(options.numHostBlocks * this.bs).fill(-1);
  }

  private pick(n: number): number | null {
    if (this.seqs.size === 0) return null;
    const ids = [...this.seqs.keys()];
    return ids[n % ids.length]!;
  }

  private write(slot: number, tok: number, pos: number): void {
    const block = Math.floor(slot / this.bs);
    // Copy-on-write guarantee: no slot of a shared block is ever written.
    ensure(
      this.kv.refCount(block) === 1,
      () => `write to block ${block} with refCount ${this.kv.refCount(block)}`,
    );
    this.gpuTok[slot] = tok;
    this.gpuPos[slot] = pos;
  }

  private copyBlock(
    fromTok: Int32Array,
    fromPos: Int32Array,
    from: number,
    toTok: Int32Array,
    toPos: Int32Array,
    to: number,
  ): void {
    for (let o = 0; o < this.bs; o++) {
      toTok[to * this.bs + o] = fromTok[from * this.bs + o]!;
      toPos[to * this.bs + o] = fromPos[from * this.bs + o]!;
    }
  }

  private expectUnchangedAfterRefusal(fn: () => void): boolean {
    const before = this.kv.usage();
    try {
      fn();
      return true;
    } catch (e) {
      if (!(e instanceof KvCacheExhaustedError)) throw e;
      const after = this.kv.usage();
      expect(after.usedBlocks).toBe(before.usedBlocks);
      expect(after.availableBlocks).toBe(before.availableBlocks);
      expect(after.hostUsedBlocks).toBe(before.hostUsedBlocks);
      expect(after.numSequences).toBe(before.numSequences);
      return false;
    }
  }

  run(op: Op, families: number[][]): void {
    const kv = this.kv;
    switch (op.kind) {
      case 'allocate': {
        let tokens = [...families[op.family]!.slice(0, op.prefixLen), ...op.suffix];
        if (tokens.length === 0) tokens = [0];
        const id = this.nextId++;
        const cacheKey = op.key === 0 ? '' : 'adapter-1';
        let result: ReturnType<KvCacheManager['allocate']> | undefined;
        const ok = this.expectUnchangedAfterRefusal(() => {
          result = kv.allocate(id, tokens, { cacheKey });
        });
        if (!ok) {
          expect(kv.has(id)).toBe(false);
          return;
        }
        const { numCachedTokens, slots } = result!;
        expect(numCachedTokens % this.bs).toBe(0);
        expect(numCachedTokens).toBeLessThan(tokens.length);
        if (!this.options.enablePrefixCaching) expect(numCachedTokens).toBe(0);
        // The prefix cache handed out blocks that really hold this prompt's tokens.
        for (let p = 0; p < numCachedTokens; p++) {
          const slot = kv.slotOf(id, p);
          ensure(
            this.gpuTok[slot] === tokens[p] && this.gpuPos[slot] === p,
            () => `prefix hit of sequence ${id} returned slot ${slot} holding another token at position ${p}`,
          );
        }
        expect(slots.length).toBe(tokens.length - numCachedTokens);
        slots.forEach((slot, i) => this.write(slot, tokens[numCachedTokens + i]!, numCachedTokens + i));
        this.seqs.set(id, { tokens });
        return;
      }
      case 'append': {
        const id = this.pick(op.seq);
        if (id === null) return;
        if (kv.location(id) === 'host') {
          expect(() => kv.append(id, op.tokens)).toThrow(SequenceLocationError);
          return;
        }
        const table = kv.blockTable(id).slice();
        const n = kv.numTokens(id);
        let result: { slots: ArrayLike<number>; copy: BlockCopy | null } | undefined;
        // Single tokens take the decode fast path half of the time.
        const fastPath = op.tokens.length === 1 && n % 2 === 0;
        const ok = this.expectUnchangedAfterRefusal(() => {
          if (fastPath) {
            const copies: BlockCopy[] = [];
            const slot = kv.appendToken(id, op.tokens[0]!, copies);
            ensure(copies.length <= 1, () => 'more than one copy for one token');
            result = { slots: [slot], copy: copies[0] ?? null };
          } else {
            result = kv.append(id, op.tokens);
          }
        });
        if (!ok) {
          expect(kv.numTokens(id)).toBe(n);
          expect(kv.blockTable(id)).toEqual(table);
          return;
        }
        const { slots, copy } = result!;
        if (copy) {
          expect(kv.refCount(copy.dst)).toBe(1);
          this.copyBlock(this.gpuTok, this.gpuPos, copy.src, this.gpuTok, this.gpuPos, copy.dst);
        }
        const seq = this.seqs.get(id)!;
        Array.from(slots).forEach((slot, i) => this.write(slot, op.tokens[i]!, n + i));
        seq.tokens.push(...op.tokens);
        return;
      }
      case 'fork': {
        const id = this.pick(op.seq);
        if (id === null) return;
        const child = this.nextId++;
        if (kv.location(id) === 'host') {
          expect(() => kv.fork(id, child)).toThrow(SequenceLocationError);
          return;
        }
        kv.fork(id, child);
        this.seqs.set(child, { tokens: [...this.seqs.get(id)!.tokens] });
        return;
      }
      case 'free': {
        const id = this.pick(op.seq);
        if (id === null) return;
        kv.free(id);
        this.seqs.delete(id);
        return;
      }
      case 'evict': {
        const cached = kv.usage().cachedBlocks;
        const order = kv.cachedBlocksInEvictionOrder();
        expect(kv.evictCachedBlocks(op.n)).toBe(Math.min(op.n, cached));
        // Least recently used first: the survivors are the most recent ones, in order.
        expect(kv.cachedBlocksInEvictionOrder()).toEqual(order.slice(Math.min(op.n, cached)));
        return;
      }
      case 'swapOut':
      case 'swapIn': {
        const from = op.kind === 'swapOut' ? 'gpu' : 'host';
        const ids = [this.pick(op.seq), op.other === null ? null : this.pick(op.other)].filter(
          (id, i, all): id is number => id !== null && kv.location(id) === from && all.indexOf(id) === i,
        );
        if (ids.length === 0) return;
        let plan: SwapPlan | undefined;
        if (
          !this.expectUnchangedAfterRefusal(
            () => (plan = op.kind === 'swapOut' ? kv.swapOut(ids) : kv.swapIn(ids)),
          )
        ) {
          for (const id of ids) expect(kv.location(id)).toBe(from);
          return;
        }
        for (const c of plan!.copies) {
          if (op.kind === 'swapOut') {
            this.copyBlock(this.gpuTok, this.gpuPos, c.gpuBlock, this.hostTok, this.hostPos, c.hostBlock);
          } else {
            this.copyBlock(this.hostTok, this.hostPos, c.hostBlock, this.gpuTok, this.gpuPos, c.gpuBlock);
          }
        }
        // Each distinct block is copied exactly once.
        const targets = plan!.copies.map((c) => (op.kind === 'swapOut' ? c.hostBlock : c.gpuBlock));
        expect(new Set(targets).size).toBe(targets.length);
        return;
      }
      case 'markComputed': {
        const id = this.pick(op.seq);
        if (id === null || kv.location(id) === 'host') return;
        kv.markComputed(id, Math.floor(op.fraction * kv.numTokens(id)));
        return;
      }
    }
  }

  check(): void {
    const kv = this.kv;
    const { numBlocks, numHostBlocks } = this.options;
    const u = kv.usage();
    expect(u.freeBlocks + u.usedBlocks + u.cachedBlocks).toBe(numBlocks);
    expect(u.usage).toBe(u.usedBlocks / numBlocks);
    expect(u.numSequences).toBe(this.seqs.size);

    const gpuCounts = new Array<number>(numBlocks).fill(0);
    const hostCounts = new Array<number>(numHostBlocks).fill(0);
    for (const [id, seq] of this.seqs) {
      const onGpu = kv.location(id) === 'gpu';
      const table = kv.blockTable(id);
      ensure(kv.numTokens(id) === seq.tokens.length, () => `sequence ${id} length`);
      ensure(
        table.length === Math.ceil(seq.tokens.length / this.bs),
        () => `sequence ${id} block table size`,
      );
      for (const b of table) (onGpu ? gpuCounts : hostCounts)[b]!++;
      // Every sequence reads back exactly its own tokens at their positions.
      const tok = onGpu ? this.gpuTok : this.hostTok;
      const pos = onGpu ? this.gpuPos : this.hostPos;
      seq.tokens.forEach((t, p) => {
        const slot = table[Math.floor(p / this.bs)]! * this.bs + (p % this.bs);
        ensure(
          tok[slot] === t && pos[slot] === p,
          () => `sequence ${id} reads a wrong token at position ${p}`,
        );
      });
    }

    const free = kv.freeBlockList();
    const cached = kv.cachedBlocksInEvictionOrder();
    expect(new Set(free).size).toBe(free.length);
    expect(new Set(cached).size).toBe(cached.length);
    expect(free.length).toBe(u.freeBlocks);
    expect(cached.length).toBe(u.cachedBlocks);
    const freeSet = new Set(free);
    for (const b of cached) ensure(!freeSet.has(b), () => `block ${b} both free and cached`);
    let used = 0;
    for (let b = 0; b < numBlocks; b++) {
      // Reference count = number of block tables holding the block.
      ensure(
        kv.refCount(b) === gpuCounts[b],
        () => `block ${b}: refCount ${kv.refCount(b)}, held ${gpuCounts[b]}x`,
      );
      const state = kv.blockState(b);
      const expected = gpuCounts[b]! > 0 ? 'used' : freeSet.has(b) ? 'free' : 'cached';
      ensure(state === expected, () => `block ${b} is ${state}, expected ${expected}`);
      if (gpuCounts[b]! > 0) used++;
      // A registered block holds exactly the tokens it is registered with.
      const registered = kv.cachedBlockTokens(b);
      if (registered) {
        registered.forEach((t, o) =>
          ensure(this.gpuTok[b * this.bs + o] === t, () => `registered block ${b} holds other tokens`),
        );
      } else {
        ensure(state !== 'cached', () => `cached block ${b} is not registered`);
      }
    }
    expect(used).toBe(u.usedBlocks);
    let hostUsed = 0;
    for (let b = 0; b < numHostBlocks; b++) {
      ensure(kv.hostRefCount(b) === hostCounts[b], () => `host block ${b} refCount`);
      if (hostCounts[b]! > 0) hostUsed++;
    }
    expect(hostUsed).toBe(u.hostUsedBlocks);
    kv.checkInvariants();
  }
}

describe('KvCacheManager under random operation sequences', () => {
  it('keeps block accounting, refcounts, copy-on-write and cached contents consistent', () => {
    fc.assert(
      fc.property(
        configArb,
        familiesArb,
        fc.array(opArb, { minLength: 20, maxLength: 80, size: 'max' }),
        (config, families, ops) => {
          const engine = new ShadowEngine(config);
          for (const op of ops) {
            engine.run(op, families);
            engine.check();
          }
          for (const id of [...engine.seqs.keys()]) {
            engine.kv.free(id);
            engine.seqs.delete(id);
          }
          engine.check();
          const u = engine.kv.usage();
          expect(u.usage).toBe(0);
          expect(u.freeBlocks + u.cachedBlocks).toBe(config.numBlocks);
          expect(u.hostUsedBlocks).toBe(0);
        },
      ),
      { numRuns: 250 },
    );
  });

  it('shares prompt prefixes whenever the cached blocks survive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 64 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 16 }),
        (blockSize, prefix, suffix) => {
          const kv = new KvCacheManager({ numBlocks: 64, blockSize });
          kv.allocate('a', prefix);
          kv.markComputed('a', prefix.length);
          kv.free('a');
          const prompt = [...prefix, ...suffix];
          const { numCachedTokens } = kv.allocate('b', prompt);
          // Every full block of the first prompt is reusable, short of the last prompt token.
          const expected = Math.min(
            Math.floor(prefix.length / blockSize),
            Math.floor((prompt.length - 1) / blockSize),
          );
          expect(numCachedTokens).toBe(expected * blockSize);
          expect(kv.prefixCacheStats().hitBlocks).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
