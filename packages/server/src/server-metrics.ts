import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FinishReason, ServedModel, ServingResult, ServingTotals } from './serving-engine.js';

// vLLM's bucket boundaries (vllm/v1/metrics/loggers.py), so that its Grafana dashboards and
// recording rules read these histograms unchanged.
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const INTER_TOKEN_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const REQUEST_LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];

// vLLM labels every series with the served model and the engine's index (one engine here: 0).
const LABELS = ['model_name', 'engine'] as const;
type Labels = Record<(typeof LABELS)[number], string>;

const FINISH_REASONS: readonly FinishReason[] = ['stop', 'length', 'abort'];

/**
 * The server's Prometheus metrics under vLLM's names and types, in a registry of its own (two
 * servers in one process do not share series). vLLM's counters are prometheus_client Counters
 * named without `_total`, which its exposition appends: the names here carry the suffix so that
 * prom-client, which appends nothing, writes the same lines. Totals kept by the engine are read
 * at scrape time.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private labels: Labels | undefined;
  private engineTotals: (() => ServingTotals) | undefined;
  private readonly ttft: Histogram<string>;
  private readonly interToken: Histogram<string>;
  private readonly e2e: Histogram<string>;
  private readonly queue: Histogram<string>;
  private readonly success: Counter<string>;
  private readonly cacheConfig: Gauge<string>;

  constructor() {
    const registers = [this.registry];
    const labelNames = [...LABELS];
    const gauge = (name: string, help: string, read: (t: ServingTotals) => number) => {
      const metric: Gauge<string> = new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect: () => {
          const totals = this.engineTotals?.();
          if (totals && this.labels) metric.set(this.labels, read(totals));
        },
      });
    };
    const totalCounter = (name: string, help: string, read: (t: ServingTotals) => number) => {
      let seen = 0;
      const metric: Counter<string> = new Counter({
        name,
        help,
        labelNames,
        registers,
        collect: () => {
          const totals = this.engineTotals?.();
          if (!totals || !this.labels) return;
          // Increments only: the series stays monotonic whatever the engine reports.
          const now = read(totals);
          metric.inc(this.labels, Math.max(0, now - seen));
          seen = Math.max(seen, now);
        },
      });
    };
    const histogram = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames, registers, buckets });

    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', (t) => t.numRunning);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', (t) => t.numWaiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', (t) => t.kvCacheUsage);
    totalCounter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', (t) => t.promptTokens);
    totalCounter(
      'vllm:generation_tokens_total',
      'Number of generation tokens processed.',
      (t) => t.generationTokens,
    );
    totalCounter(
      'vllm:num_preemptions_total',
      'Cumulative number of preemption from the engine.',
      (t) => t.preemptions,
    );
    totalCounter(
      'vllm:prefix_cache_queries_total',
      'Prefix cache queries, in terms of number of queried tokens.',
      (t) => t.prefixCacheQueries,
    );
    totalCounter(
      'vllm:prefix_cache_hits_total',
      'Prefix cache hits, in terms of number of cached tokens.',
      (t) => t.prefixCacheHits,
    );
    this.success = new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: [...LABELS, 'finished_reason'],
      registers,
    });
    this.ttft = histogram(
      'vllm:time_to_first_token_seconds',
      'Histogram of time to first token in seconds.',
      TTFT_BUCKETS,
    );
    this.interToken = histogram(
      'vllm:inter_token_latency_seconds',
      'Histogram of inter-token latency in seconds.',
      INTER_TOKEN_BUCKETS,
    );
    this.e2e = histogram(
      'vllm:e2e_request_latency_seconds',
      'Histogram of e2e request latency in seconds.',
      REQUEST_LATENCY_BUCKETS,
    );
    this.queue = histogram(
      'vllm:request_queue_time_seconds',
      'Histogram of time spent in WAITING phase for request.',
      REQUEST_LATENCY_BUCKETS,
    );
    this.cacheConfig = new Gauge({
      name: 'vllm:cache_config_info',
      help: 'Information of the LLMEngine CacheConfig',
      labelNames: ['block_size', 'num_gpu_blocks', ...LABELS],
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Starts the series of a served model (each at zero, as vLLM creates them). */
  attach(model: ServedModel): void {
    const labels: Labels = { model_name: model.name, engine: '0' };
    this.labels = labels;
    this.engineTotals = () => model.engine.totals();
    for (const reason of FINISH_REASONS) this.success.inc({ ...labels, finished_reason: reason }, 0);
    for (const h of [this.ttft, this.interToken, this.e2e, this.queue]) h.zero(labels);
    this.cacheConfig.set(
      {
        ...labels,
        block_size: String(model.cacheConfig.blockSize),
        num_gpu_blocks: String(model.cacheConfig.numGpuBlocks),
      },
      1,
    );
  }

  /** One gap between successive tokens of a request, as the server saw them arrive. */
  observeTokenGap(seconds: number): void {
    if (this.labels) this.interToken.observe(this.labels, seconds);
  }

  /** A finished request: its latencies and its finish reason (the first completion's, as vLLM counts n > 1). */
  observeRequest(result: ServingResult): void {
    const labels = this.labels;
    if (!labels) return;
    const m = result.metrics;
    if (m.firstTokenMs !== undefined) this.ttft.observe(labels, (m.firstTokenMs - m.arrivalMs) / 1000);
    if (m.scheduledMs !== undefined) this.queue.observe(labels, (m.scheduledMs - m.arrivalMs) / 1000);
    this.e2e.observe(labels, (m.finishedMs - m.arrivalMs) / 1000);
    const reason = result.completions[0]?.finishReason ?? 'abort';
    this.success.inc({ ...labels, finished_reason: reason });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
