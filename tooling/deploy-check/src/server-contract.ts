/**
 * What deploy/ relies on from `llm serve` (apps/server): the port it listens on by default, its
 * readiness endpoint, and the names on /metrics the endpoint picker reads, which are vLLM's (the
 * picker's defaults), each with a model_name label.
 */
export const SERVER_PORT = 8000;
export const HEALTH_PATH = '/health';
export const METRICS_PATH = '/metrics';

export const SERVER_METRICS = {
  queuedRequests: 'vllm:num_requests_waiting',
  runningRequests: 'vllm:num_requests_running',
  kvCacheUsage: 'vllm:kv_cache_usage_perc',
  cacheInfo: 'vllm:cache_config_info',
} as const;

/** After SIGTERM the server finishes requests in flight for up to this long, then exits 0. */
export const DRAIN_SECONDS = 30;
