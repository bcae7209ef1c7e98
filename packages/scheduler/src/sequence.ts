export type SequenceStatus = 'waiting' | 'running' | 'swapped';

/** One live sequence: a request, or a child forked from one (n > 1 sampling). */
export interface Sequence {
  readonly id: string;
  readonly priority: number;
  /** add() order of the request; a forked child shares its parent's. */
  readonly arrival: number;
  /** Creation order, unique: breaks ties so a child sorts right after its parent. */
  readonly birth: number;
  readonly maxTokens: number;
  readonly cacheKey: string | undefined;
  readonly promptLength: number;
  /** Prompt followed by every sampled token. */
  readonly tokens: number[];
  status: SequenceStatus;
  /**
   * 'prefill': positions numComputed..prefillEnd-1 still need a forward pass (the prompt, or the
   * whole token list after a recompute preemption). 'decode': the last token is the next input.
   */
  phase: 'prefill' | 'decode';
  /** Leading tokens whose K/V is in the cache, as of the last update(). */
  numComputed: number;
  /** Tokens the KV allocation covers while prefilling; its last chunk samples. */
  prefillEnd: number;
  /** Whether it ran before and was preempted by recompute (it returns ahead of new requests). */
  preempted: boolean;
}

/** Sequences of one run order: arrival under 'fcfs', then (priority, arrival) under 'priority'. */
export function sequenceOrder(policy: 'fcfs' | 'priority'): (a: Sequence, b: Sequence) => number {
  if (policy === 'priority') {
    return (a, b) => a.priority - b.priority || a.arrival - b.arrival || a.birth - b.birth;
  }
  return (a, b) => a.arrival - b.arrival || a.birth - b.birth;
}

export function numGeneratedOf(seq: Sequence): number {
  return seq.tokens.length - seq.promptLength;
}
