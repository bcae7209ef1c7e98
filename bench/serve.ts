/**
 * Online serving: `llm serve` on loopback under 64 concurrent streaming clients (the official
 * `openai` client) for 60 s, each sending its next request as soon as the last one ends. Reports
 * request throughput, output tokens per second and TTFT / TPOT / ITL / E2E (mean, p50, p99) with the
 * definitions of vLLM's serving benchmark: TTFT to the first chunk that carries choices, ITL between
 * successive chunks, TPOT = (E2E - TTFT) / (output tokens - 1). Then checks what a server must keep:
 * no errors, every streamed text equal to a non-streamed greedy rerun of the same request (no lost
 * or duplicated tokens), and, through /metrics, no request running and no KV block held at the end.
 *
 * Run: pnpm bench serve [options] (--help lists them). Table on stdout, progress on stderr, JSON in
 * bench/results/serve.json. bench/README.md describes every field.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SeededRandom } from '@llm/formats';
import { STORY_PROMPTS as OPENINGS } from '@llm/formats/testing';
import OpenAI from 'openai';
import { printTable, progress, type Cell } from './console-report.js';
import { writeResult } from './result-writer.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_MODEL = join(repoRoot, '..', 'shared', 'models', 'stories260K.gguf');
const MODEL_NAME = 'bench';

// Story openings of different lengths (stories260K's parity prompts), each followed by one of the
// names, so prompts differ and the prefix cache sees shared starts, as chat traffic does.
const NAMES = ['Sam', 'Mia', 'Ben', 'Lucy', 'Max', 'Sue', 'Jack', 'Anna'];

const usage = `pnpm bench serve [options]

  --model PATH        model to serve (default ../shared/models/stories260K.gguf)
  --clients N         concurrent streaming clients (default 64)
  --duration S        seconds during which clients start new requests (default 60)
  --max-tokens A,B    output length range of a request, drawn uniformly (default 32,128)
  --max-num-seqs N    the server's --max-num-seqs (default: --clients)
  --seed S            seed of the workload (default 1)
  --help              this text
`;

interface Options {
  model: string;
  clients: number;
  durationS: number;
  maxTokens: readonly [number, number];
  maxNumSeqs: number;
  seed: number;
}

function parseOptions(args: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: 'string' },
      clients: { type: 'string' },
      duration: { type: 'string' },
      'max-tokens': { type: 'string' },
      'max-num-seqs': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const int = (text: string | undefined, fallback: number, name: string) => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return n;
  };
  const [lo, hi] = (values['max-tokens'] ?? '32,128').split(',').map((t) => int(t, 0, 'max-tokens'));
  if (lo === undefined || hi === undefined || hi < lo) throw new Error('--max-tokens is A,B with A <= B');
  const clients = int(values.clients, 64, 'clients');
  return {
    model: values.model ?? DEFAULT_MODEL,
    clients,
    durationS: int(values.duration, 60, 'duration'),
    maxTokens: [lo, hi],
    maxNumSeqs: int(values['max-num-seqs'], clients, 'max-num-seqs'),
    seed: int(values.seed, 1, 'seed'),
  };
}

interface WorkItem {
  prompt: string;
  maxTokens: number;
}

interface RequestRecord extends WorkItem {
  startMs: number;
  ttftMs?: number;
  e2eMs?: number;
  /** Gaps between successive chunks with choices. */
  itlMs: number[];
  text: string;
  outputTokens: number;
  error?: string;
}

/** Starts `llm serve` on a free port; resolves with its base URL once /health answers 200. */
async function startServer(options: Options): Promise<{ child: ChildProcess; baseUrl: string; log: string[] }> {
  const bin = join(repoRoot, 'node_modules', '.bin', 'llm');
  const args = ['serve', '--model', options.model, '--port', '0', '--served-model-name', MODEL_NAME];
  args.push('--max-num-seqs', String(options.maxNumSeqs), '--max-num-batched-tokens', String(Math.max(512, options.maxNumSeqs)));
  // Its own process group, so the bench can signal the server and its Dawn child together.
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const log: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`llm serve did not start within 120 s:\n${log.join('\n')}`)), 120_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        progress(`server: ${line}`);
        const match = /serving '.*' at (http:\/\/\S+)\/v1/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`llm serve exited with ${code} before serving:\n${log.join('\n')}`));
    });
  });
  return { child, baseUrl: url, log };
}

async function scrape(baseUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(vllm:[a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (match) values[match[1]!] = (values[match[1]!] ?? 0) + Number(match[2]);
  }
  return values;
}

async function streamOne(client: OpenAI, item: WorkItem): Promise<RequestRecord> {
  const record: RequestRecord = { ...item, startMs: performance.now(), itlMs: [], text: '', outputTokens: 0 };
  try {
    const stream = await client.completions.create({
      model: MODEL_NAME,
      prompt: item.prompt,
      max_tokens: item.maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let lastMs: number | undefined;
    for await (const chunk of stream) {
      const nowMs = performance.now();
      if (chunk.usage) record.outputTokens = chunk.usage.completion_tokens;
      if (chunk.choices.length === 0) continue;
      if (lastMs === undefined) record.ttftMs = nowMs - record.startMs;
      else record.itlMs.push(nowMs - lastMs);
      lastMs = nowMs;
      record.text += chunk.choices[0]!.text;
    }
    record.e2eMs = performance.now() - record.startMs;
  } catch (error) {
    record.error = String(error);
  }
  return record;
}

function summary(values: readonly number[]): { meanMs: number; p50Ms: number; p99Ms: number } | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  // Linear interpolation between closest ranks, as numpy.percentile (vLLM's benchmark) does.
  const pct = (p: number) => {
    const rank = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(rank);
    return sorted[lo]! + (sorted[Math.min(lo + 1, sorted.length - 1)]! - sorted[lo]!) * (rank - lo);
  };
  return { meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length, p50Ms: pct(50), p99Ms: pct(99) };
}

export async function main(args: readonly string[]): Promise<void> {
  const options = parseOptions(args);
  if (!options) {
    process.stdout.write(usage);
    return;
  }
  if (!existsSync(options.model)) throw new Error(`no model at ${options.model}`);
  const random = new SeededRandom(options.seed);
  const below = (n: number) => Math.floor(random.nextFloat() * n);
  const [minTokens, maxTokens] = options.maxTokens;
  const nextItem = (): WorkItem => ({
    prompt: `${OPENINGS[below(OPENINGS.length)]!} ${NAMES[below(NAMES.length)]!}`,
    maxTokens: minTokens + below(maxTokens - minTokens + 1),
  });

  progress(`starting llm serve on ${options.model}`);
  const server = await startServer(options);
  const exited = new Promise<number | null>((resolve) => server.child.on('exit', (code) => resolve(code)));
  // A run never outlives its bound: the server is killed if anything below hangs.
  const deadline = setTimeout(() => process.kill(-server.child.pid!, 'SIGKILL'), (options.durationS + 600) * 1000);
  let serverExitCode: number | null = null;
  try {
    const client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'none', maxRetries: 0, timeout: 300_000 });
    progress(`${options.clients} clients streaming for ${options.durationS} s`);
    const records: RequestRecord[] = [];
    const startMs = performance.now();
    const stopMs = startMs + options.durationS * 1000;
    let lastReport = startMs;
    await Promise.all(
      Array.from({ length: options.clients }, async () => {
        while (performance.now() < stopMs) {
          records.push(await streamOne(client, nextItem()));
          if (performance.now() - lastReport > 10_000) {
            lastReport = performance.now();
            progress(`${records.length} requests done after ${((lastReport - startMs) / 1000).toFixed(0)} s`);
          }
        }
      }),
    );
    const wallS = (performance.now() - startMs) / 1000;
    const done = records.filter((r) => r.error === undefined);
    const afterRun = await scrape(server.baseUrl);

    progress(`rerunning ${done.length} requests without streaming to compare texts`);
    let mismatches = 0;
    const examples: { prompt: string; streamed: string; rerun: string }[] = [];
    for (let i = 0; i < done.length; i += options.clients) {
      await Promise.all(
        done.slice(i, i + options.clients).map(async (r) => {
          const rerun = await client.completions.create({ model: MODEL_NAME, prompt: r.prompt, max_tokens: r.maxTokens, temperature: 0 });
          const text = rerun.choices[0]!.text;
          if (text !== r.text) {
            mismatches++;
            if (examples.length < 3) examples.push({ prompt: r.prompt, streamed: r.text, rerun: text });
          }
        }),
      );
    }
    const atEnd = await scrape(server.baseUrl);

    progress('stopping the server with SIGTERM');
    process.kill(-server.child.pid!, 'SIGTERM');
    serverExitCode = await exited;

    const outputTokens = done.reduce((n, r) => n + r.outputTokens, 0);
    const tpot = done.filter((r) => r.outputTokens > 1).map((r) => (r.e2eMs! - r.ttftMs!) / (r.outputTokens - 1));
    const metrics = {
      ttft: summary(done.map((r) => r.ttftMs!)),
      tpot: summary(tpot),
      itl: summary(done.flatMap((r) => r.itlMs)),
      e2e: summary(done.map((r) => r.e2eMs!)),
    };
    const errors = records.filter((r) => r.error !== undefined);
    const result = {
      model: options.model,
      clients: options.clients,
      durationS: options.durationS,
      maxTokensRange: options.maxTokens,
      serverMaxNumSeqs: options.maxNumSeqs,
      wallS,
      completedRequests: done.length,
      requestsPerSecond: done.length / wallS,
      outputTokens,
      outputTokensPerSecond: outputTokens / wallS,
      metrics,
      errors: errors.length,
      errorExamples: errors.slice(0, 3).map((r) => r.error),
      streamedTextMismatches: mismatches,
      mismatchExamples: examples,
      kvCacheUsageAfterRun: afterRun['vllm:kv_cache_usage_perc'] ?? null,
      kvCacheUsageAtEnd: atEnd['vllm:kv_cache_usage_perc'] ?? null,
      requestsRunningAtEnd: atEnd['vllm:num_requests_running'] ?? null,
      requestsWaitingAtEnd: atEnd['vllm:num_requests_waiting'] ?? null,
      preemptions: atEnd['vllm:num_preemptions_total'] ?? null,
      serverExitCode,
      peer: null,
      peerNote: 'no peer: llama.cpp through node-llama-cpp has no HTTP server to run the same client against',
      serverLog: server.log.filter((line) => line.includes('KV cache') || line.includes('serving')),
    };
    const row = (name: string, s: { meanMs: number; p50Ms: number; p99Ms: number } | null): Record<string, Cell> => ({
      metric: name,
      meanMs: s?.meanMs,
      p50Ms: s?.p50Ms,
      p99Ms: s?.p99Ms,
    });
    printTable([row('TTFT', metrics.ttft), row('TPOT', metrics.tpot), row('ITL', metrics.itl), row('E2E', metrics.e2e)]);
    printTable([
      {
        requests: done.length,
        'req/s': result.requestsPerSecond,
        'output tok/s': result.outputTokensPerSecond,
        errors: errors.length,
        mismatches,
        'kv usage at end': result.kvCacheUsageAtEnd,
        'running at end': result.requestsRunningAtEnd,
        'server exit': serverExitCode,
      },
    ]);
    progress(`results in ${await writeResult('serve', result)}`);
  } finally {
    clearTimeout(deadline);
    if (serverExitCode === null && server.child.exitCode === null) process.kill(-server.child.pid!, 'SIGKILL');
  }
}
