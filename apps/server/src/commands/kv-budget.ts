import { freemem } from 'node:os';
import type { LlamaConfig } from '@llm/formats';
import { kvLayerBlockBytes, kvPoolBlockBytes } from '@llm/model';
import type { GpuKvDtype } from '@llm/quant';
import { CliUsageError } from '../cli-error.js';

// Half the free host memory at most: lavapipe's buffers live in host memory, and the weights,
// per-step scratch and the process need the rest.
const HOST_MEMORY_FRACTION = 0.5;
// The scheduler admits a request only while 1 % of the pool stays free (vLLM's watermark).
const WATERMARK = 0.01;

export interface KvBudget {
  readonly numBlocks: number;
  readonly bytes: number;
  /** What capped the pool: the sequences it serves, --kv-memory, the adapter's buffer limit, or host memory. */
  readonly limitedBy: 'sequences' | 'kv-memory' | 'adapter' | 'host memory';
}

export interface KvBudgetInput {
  readonly config: LlamaConfig;
  readonly blockSize: number;
  readonly kvDtype: GpuKvDtype;
  readonly maxNumSeqs: number;
  readonly maxModelLen: number;
  /** Bytes from --kv-memory; overrides the default. */
  readonly kvMemoryBytes?: number | undefined;
  /** The adapter's largest storage binding (one layer's K or V pool); absent on the cpu backend. */
  readonly maxBindingBytes?: number | undefined;
  readonly freeHostBytes?: number;
}

/**
 * The KV pool `llm serve` allocates: --kv-memory when given, else room for every sequence of a
 * full step at the longest length served, capped by the adapter's binding limit and by host memory.
 * Throws when the pool cannot hold one sequence of maxModelLen, naming what to change.
 */
export function planServeKvBudget(input: KvBudgetInput): KvBudget {
  const { config, blockSize, kvDtype } = input;
  const blockBytes = kvPoolBlockBytes(config, blockSize, kvDtype);
  const sequenceBlocks = Math.ceil(input.maxModelLen / blockSize);
  const caps: { blocks: number; by: KvBudget['limitedBy'] }[] = [];
  if (input.kvMemoryBytes !== undefined) caps.push({ blocks: Math.floor(input.kvMemoryBytes / blockBytes), by: 'kv-memory' });
  else {
    const wanted = input.maxNumSeqs * sequenceBlocks;
    caps.push({ blocks: wanted + Math.ceil(wanted * WATERMARK), by: 'sequences' });
    caps.push({ blocks: Math.floor(((input.freeHostBytes ?? freemem()) * HOST_MEMORY_FRACTION) / blockBytes), by: 'host memory' });
  }
  if (input.maxBindingBytes !== undefined) {
    caps.push({ blocks: Math.floor(input.maxBindingBytes / kvLayerBlockBytes(config, blockSize, kvDtype)), by: 'adapter' });
  }
  const cap = caps.reduce((a, b) => (b.blocks < a.blocks ? b : a));
  if (cap.blocks < sequenceBlocks) {
    throw new CliUsageError(
      `the KV cache holds ${cap.blocks} blocks of ${blockSize} tokens (limited by ${cap.by}), fewer than the ` +
        `${sequenceBlocks} one sequence of ${input.maxModelLen} tokens needs: lower --max-model-len` +
        (cap.by === 'kv-memory' ? ' or raise --kv-memory' : ' or use --kv-dtype f16'),
    );
  }
  return { numBlocks: cap.blocks, bytes: cap.blocks * blockBytes, limitedBy: cap.by };
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };

/** `--kv-memory` as bytes: a number with an optional unit (512MiB, 2GiB, 1.5GB). */
export function parseByteSize(text: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) <= 0) {
    throw new CliUsageError(`${option} must be a positive size in bytes, optionally with a unit (512MiB, 2GiB, 1.5GB); got '${text}'`);
  }
  return Math.floor(Number(match[1]) * unit);
}
