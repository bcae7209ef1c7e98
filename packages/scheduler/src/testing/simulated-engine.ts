import type { KvCacheManager } from '@llm/kvcache';
import type { SchedulerOutput } from '../scheduler-output.js';

// FNV-1a's offset basis and prime: a cheap 32-bit mix in which every input bit reaches the state.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// Memory of never-written slots: states are uint32, so -1 is never a real one.
const UNWRITTEN = -1;

function mix(state: number, value: number): number {
  return Math.imul((state ^ value) >>> 0, FNV_PRIME) >>> 0;
}

/**
 * The simulated model's next token after `tokens`, computed from the token list alone. A
 * SimulatedEngine run that reads the right K/V through every block table samples exactly this.
 */
export function referenceNextToken(tokens: ArrayLike<number>, vocabSize: number): number {
  let state = FNV_OFFSET;
  let digest = FNV_OFFSET;
  for (let p = 0; p < tokens.length; p++) {
    state = mix(state, tokens[p]!);
    digest = mix(digest, state);
  }
  return digest % vocabSize;
}

export interface SimulatedEngineOptions {
  /** Sampled tokens are in 0..vocabSize-1. Default 32000. */
  readonly vocabSize?: number;
}

/**
 * Plays the engine's part for a Scheduler without a model. Its "K/V" of position p is a 32-bit
 * state mixing every token up to p; a chunk computes its states from the state stored at
 * startPos - 1 (read through the block table), and a sample mixes the states of every position
 * of the context, as attention reads them all. So one wrong block table entry, a missed
 * copy-on-write or swap copy, or a prefix-cache hit on the wrong block changes the sampled
 * tokens, and reading a slot nobody wrote throws.
 */
export class SimulatedEngine {
  readonly vocabSize: number;
  private readonly blockSize: number;
  private readonly gpu: Float64Array;
  private readonly host: Float64Array;
  /** The previous run's samples: the input of its chunks marked pendingToken. */
  private lastSampled = new Map<string, number>();

  constructor(kv: KvCacheManager, options: SimulatedEngineOptions = {}) {
    this.vocabSize = options.vocabSize ?? 32000;
    this.blockSize = kv.blockSize;
    this.gpu = new Float64Array(kv.numBlocks * kv.blockSize).fill(UNWRITTEN);
    this.host = new Float64Array(kv.numHostBlocks * kv.blockSize).fill(UNWRITTEN);
  }

  /**
   * Runs one step: performs swapOut, copies and swapIn (in that order), writes every chunk's
   * K/V, and returns the token sampled for every chunk with sample = true. A decode marked
   * pendingToken reads its input from the previous run's samples, as a device does.
   */
  run(output: SchedulerOutput): Map<string, number> {
    const bs = this.blockSize;
    for (const c of output.swapOut) this.copyBlock(this.gpu, c.gpuBlock, this.host, c.hostBlock);
    for (const c of output.copies) this.copyBlock(this.gpu, c.src, this.gpu, c.dst);
    for (const c of output.swapIn) this.copyBlock(this.host, c.hostBlock, this.gpu, c.gpuBlock);

    const sampled = new Map<string, number>();
    for (const chunk of output.chunks) {
      const slot = (p: number): number => {
        const block = chunk.blockTable[Math.floor(p / bs)];
        if (block === undefined) {
          throw new Error(
            `${chunk.id}: block table of ${chunk.blockTable.length} blocks misses position ${p}`,
          );
        }
        return block * bs + (p % bs);
      };
      const read = (p: number): number => {
        const v = this.gpu[slot(p)]!;
        if (v === UNWRITTEN) throw new Error(`${chunk.id}: reads position ${p}, whose K/V was never written`);
        return v;
      };
      const tokens = chunk.pendingToken ? [this.lastSampled.get(chunk.id)] : chunk.tokens;
      let state = chunk.startPos === 0 ? FNV_OFFSET : read(chunk.startPos - 1);
      for (let i = 0; i < tokens.length; i++) {
        const token = tokens[i];
        if (token === undefined) throw new Error(`${chunk.id}: its pending token was not sampled by the previous run`);
        state = mix(state, token);
        this.gpu[slot(chunk.startPos + i)] = state;
      }
      if (!chunk.sample) continue;
      let digest = FNV_OFFSET;
      const end = chunk.startPos + chunk.tokens.length;
      for (let p = 0; p < end; p++) digest = mix(digest, read(p));
      sampled.set(chunk.id, digest % this.vocabSize);
    }
    this.lastSampled = sampled;
    return sampled;
  }

  private copyBlock(from: Float64Array, src: number, to: Float64Array, dst: number): void {
    const bs = this.blockSize;
    to.set(from.subarray(src * bs, src * bs + bs), dst * bs);
  }
}
