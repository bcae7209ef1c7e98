import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Engine } from '@llm/engine';
import { kvPoolBlockBytes } from '@llm/model';
import { openModel } from '@llm/model/node';
import { LlmServer, type ServedModel } from '@llm/server';
import { ChatPrompter, ChatTemplate, chatTemplateTokens } from '@llm/tokenizer';
import { CliUsageError } from '../cli-error.js';
import type { serveSpec } from './command-specs.js';
import { createRunner } from './create-runner.js';
import { parseByteSize, planServeKvBudget, type KvBudget } from './kv-budget.js';
import { resolveModelArgument } from './model-argument.js';
import { w8a8Option } from './w8a8-option.js';
import type { ParsedOptions } from './parse-options.js';

// 16 tokens per block: vLLM's default, the unit the pool is planned in.
const BLOCK_SIZE = 16;
// SIGTERM lets requests in flight finish for at most this long (Kubernetes' default grace is 30 s too).
const DRAIN_TIMEOUT_MS = 30_000;

const log = (line: string) => process.stderr.write(`[llm] ${line}\n`);

/**
 * `llm serve`: listens at once (GET /health answers 503 while the model loads), loads the model
 * into a continuous-batching engine, serves it until SIGTERM or SIGINT, then drains and returns.
 */
export async function serveCommand({ values }: ParsedOptions<typeof serveSpec>): Promise<void> {
  const maxNumSeqs = values['max-num-seqs'];
  const maxNumBatchedTokens = values['max-num-batched-tokens'];
  if (maxNumBatchedTokens < maxNumSeqs) {
    throw new CliUsageError(
      `--max-num-batched-tokens ${maxNumBatchedTokens} is below --max-num-seqs ${maxNumSeqs}: every running sequence needs a token per step`,
    );
  }
  const kvMemoryBytes = values['kv-memory'] === undefined ? undefined : parseByteSize(values['kv-memory'], '--kv-memory');
  const chatTemplateSource =
    values['chat-template'] === undefined ? undefined : await readChatTemplateFile(values['chat-template']);
  const apiKey = values['api-key'] ?? process.env['LLM_API_KEY'];
  const allowedOrigins = values['allowed-origins']?.split(',').map((o) => o.trim()).filter((o) => o !== '');

  const staticDir = playgroundDir();
  const server = new LlmServer({
    version: appVersion(),
    ...(staticDir === undefined ? {} : { staticDir }),
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
    ...(allowedOrigins === undefined ? {} : { allowedOrigins }),
  });
  const stopRequested = signalled();
  const address = await server.listen(values.port, values.host);
  log(`listening on http://${formatHost(address.host)}:${address.port} (GET /health answers 503 until the model is loaded)`);
  if (staticDir !== undefined) log(`the playground is at http://${formatHost(address.host)}:${address.port}/`);

  let release = async () => {};
  try {
    const resolved = await resolveModelArgument(values.model);
    const tokenizerPath = values.tokenizer ?? resolved.tokenizerPath;
    const model = await openModel(resolved.path, tokenizerPath === undefined ? {} : { tokenizerPath });
    release = () => model.source.close();
    const config = model.source.config;
    const maxModelLen = values['max-model-len'] ?? config.contextLength;
    if (maxModelLen > config.contextLength) {
      throw new CliUsageError(`--max-model-len ${maxModelLen} is beyond the model's context of ${config.contextLength} tokens`);
    }
    const kvDtype = values['kv-dtype'];
    const w8a8 = await w8a8Option(values.w8a8, values.backend, model.tokenizer, maxModelLen);
    let budget: KvBudget | undefined;
    const { runner } = await createRunner(values.backend, model.source, (ctx) => {
      budget = planServeKvBudget({
        config: { ...config, contextLength: maxModelLen },
        blockSize: BLOCK_SIZE,
        kvDtype,
        maxNumSeqs,
        maxModelLen,
        kvMemoryBytes,
        maxBindingBytes: ctx ? Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) : undefined,
      });
      return {
        blockSize: BLOCK_SIZE,
        maxSeqs: maxNumSeqs,
        maxStepTokens: maxNumBatchedTokens,
        maxModelLen,
        kvBudgetBytes: budget.bytes,
        kvDtype,
        activations: values.activations,
        ...(w8a8 ? { w8a8 } : {}),
      };
    });
    const closeModel = release;
    release = async () => {
      runner.dispose();
      await closeModel();
    };
    log(
      `KV cache: ${runner.numBlocks} blocks of ${BLOCK_SIZE} tokens (${((runner.numBlocks * kvPoolBlockBytes(config, BLOCK_SIZE, kvDtype)) / 2 ** 20).toFixed(1)} MiB, ${kvDtype}), ` +
        `${Math.floor((runner.numBlocks * BLOCK_SIZE) / maxModelLen)} sequences of ${maxModelLen} tokens; ` +
        `limited by ${budget?.limitedBy ?? 'kv-memory'} (${runner.backend}: ${runner.adapterName})`,
    );
    const engine = new Engine(runner, model.tokenizer, {
      maxNumSeqs,
      maxNumBatchedTokens,
      maxWaiting: values['max-queue'],
    });
    const closeRunner = release;
    release = async () => {
      await engine.close();
      await closeRunner();
    };
    const found = model.chatTemplate;
    const tokens = {
      ...chatTemplateTokens(model.tokenizer),
      ...(found?.bosToken === undefined ? {} : { bosToken: found.bosToken }),
      ...(found?.eosToken === undefined ? {} : { eosToken: found.eosToken }),
    };
    const templateSource = chatTemplateSource ?? found?.source;
    if (chatTemplateSource !== undefined) log(`chat template: ${values['chat-template']}`);
    else if (found !== undefined) log(`chat template: ${found.origin}`);
    else log('the model has no chat template: chat uses the fallback template (see @llm/tokenizer)');
    const templateOrigin = chatTemplateSource === undefined ? found?.origin : values['chat-template'];
    const template =
      templateSource === undefined
        ? ChatTemplate.fallback(tokens)
        : ChatTemplate.fromSource(templateSource, tokens, templateOrigin === undefined ? {} : { name: templateOrigin });
    const served: ServedModel = {
      name: values['served-model-name'] ?? values.model,
      engine,
      tokenizer: model.tokenizer,
      chat: new ChatPrompter(model.tokenizer, template),
      maxModelLen,
      cacheConfig: { blockSize: BLOCK_SIZE, numGpuBlocks: runner.numBlocks },
    };
    server.attach(served);
    log(`serving '${served.name}' at http://${formatHost(address.host)}:${address.port}/v1`);
  } catch (error) {
    server.failLoading(error);
    await server.shutdown({ timeoutMs: 0 });
    await release();
    throw error;
  }

  const signal = await stopRequested;
  log(`${signal}: finishing the requests in flight (at most ${DRAIN_TIMEOUT_MS / 1000} s), then exiting`);
  await server.shutdown({ timeoutMs: DRAIN_TIMEOUT_MS });
  await release();
  log('stopped');
}

/**
 * Resolves with the first SIGTERM or SIGINT; later ones (a process group signalled as a whole gets
 * the signal twice: directly and forwarded by the `llm` parent) change nothing. The listeners stay
 * installed: removing the last one restores the default action, which would kill the process if
 * the second signal landed in between.
 */
function signalled(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.on('SIGTERM', resolve).on('SIGINT', resolve);
  });
}

async function readChatTemplateFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read --chat-template ${path}: ${(error as Error).message}`);
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function appVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** The playground's static build (`pnpm --filter playground build`), served at `/` when it exists. */
function playgroundDir(): string | undefined {
  const dir = fileURLToPath(new URL('../../../playground/dist/', import.meta.url));
  return existsSync(`${dir}index.html`) ? dir : undefined;
}
