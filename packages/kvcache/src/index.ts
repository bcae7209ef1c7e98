export {
  KvCacheManager,
  PENDING_TOKEN,
  type AllocateOptions,
  type AllocateResult,
  type AllocationStatus,
  type AppendResult,
  type BlockCopy,
  type BlockMapEntry,
  type BlockState,
  type CanAllocateOptions,
  type KvCacheUsage,
  type PrefixCacheStats,
  type SwapCopy,
  type SwapPlan,
} from './kv-cache-manager.js';
export { kvCacheOptionsSchema, type KvCacheOptions } from './kv-cache-options.js';
export type { SequenceId } from './sequence.js';
export {
  planKvCacheMemory,
  kvMemoryPlanInputSchema,
  type KvMemoryPlan,
  type KvMemoryPlanInput,
  type KvModelShape,
} from './memory-planner.js';
export { chainBlockHash, rootBlockHash } from './block-hash.js';
export {
  DuplicateSequenceError,
  InvalidTokensError,
  KvCacheError,
  KvCacheExhaustedError,
  KvCacheInvariantError,
  KvCacheOptionsError,
  KvPlanError,
  SequenceLocationError,
  UnknownSequenceError,
  type BlockPoolName,
} from './errors.js';
