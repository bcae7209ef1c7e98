import { createAdaptorServer } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import * as z from 'zod/mini';
import { chatCompletions, renderPrompt } from './chat-route.js';
import { completions } from './completions-route.js';
import { TokenPieces } from './logprobs.js';
import { detokenizeRequestSchema, parseRequest, tokenizeRequestSchema } from './request-schemas.js';
import { nowSeconds } from './response-ids.js';
import { ServerError } from './server-error.js';
import { ServerMetrics } from './server-metrics.js';
import type { ChatMessage, ServedModel } from './serving-engine.js';
import { checkModel } from './serving-request.js';
import type { RouteContext } from './sse.js';
import { englishMessages } from './zod-messages.js';

// 8 MiB: a full 128k-token context as JSON token ids or text fits with room to spare.
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
// After a shutdown aborts what is left, the engine ends those requests within a step or two.
const ABORT_GRACE_MS = 2_000;
// Connections still open once every request is done are idle keep-alives or clients slow to read
// their last bytes: they get this long, then are closed.
const CLOSE_GRACE_MS = 1_000;

export const llmServerOptionsSchema = z.strictObject({
  /** Requests to /v1/*, /tokenize and /detokenize must carry `Authorization: Bearer <apiKey>`. */
  apiKey: z.optional(z.string().check(z.minLength(1))),
  /** Origins whose browser pages may call the server ('*': any); others get 403. Default: none. */
  allowedOrigins: z.optional(z.readonly(z.array(z.string().check(z.minLength(1))))),
  /** Largest request body; larger ones get 413. Default 8 MiB. */
  maxBodyBytes: z.optional(z.int().check(z.positive())),
  /** What GET /version answers. */
  version: z.string(),
  /** One line per request on stderr. */
  logRequests: z.optional(z.boolean()),
  /**
   * A directory of static files (a built web app) served at `/` for GET requests no API route
   * answers; `/` itself serves its index.html. Absolute, or relative to the working directory.
   */
  staticDir: z.optional(z.string().check(z.minLength(1))),
});

export interface LlmServerOptions {
  apiKey?: string;
  allowedOrigins?: readonly string[];
  maxBodyBytes?: number;
  version: string;
  logRequests?: boolean;
  staticDir?: string;
}

type Loading =
  | { state: 'loading' }
  | { state: 'failed'; error: unknown }
  | { state: 'ready'; model: ServedModel; pieces: TokenPieces };

interface InFlight {
  readonly abort: () => void;
  readonly done: Promise<void>;
}

/**
 * The OpenAI-compatible HTTP server over one served model: a hono app (`app.fetch` to embed it
 * elsewhere) that `listen` serves on Node's HTTP server. It answers 503 until `attach` hands it
 * the loaded model, and again once the engine has failed or a shutdown has begun.
 */
export class LlmServer {
  readonly app: Hono;
  private readonly options: z.output<typeof llmServerOptionsSchema>;
  private readonly metrics = new ServerMetrics();
  private loading: Loading = { state: 'loading' };
  private draining = false;
  private readonly shutdownController = new AbortController();
  private readonly inFlight = new Set<InFlight>();
  private server: Server | undefined;
  private shuttingDown: Promise<void> | undefined;
  private readonly apiKeyDigest: Buffer | undefined;
  private createdSec = 0;

  constructor(options: LlmServerOptions) {
    const parsed = llmServerOptionsSchema.safeParse(options, { error: englishMessages });
    if (!parsed.success)
      throw new ServerError('invalid_argument', `invalid server options:\n${z.prettifyError(parsed.error)}`);
    this.options = parsed.data;
    this.apiKeyDigest = this.options.apiKey === undefined ? undefined : digest(this.options.apiKey);
    this.app = this.buildApp();
  }

  /** Loading is done: the routes serve `model`, and /health answers 200 while its engine can serve. */
  attach(model: ServedModel): void {
    if (this.loading.state === 'ready')
      throw new ServerError('invalid_argument', 'a model is already attached');
    this.loading = { state: 'ready', model, pieces: new TokenPieces(model.tokenizer) };
    this.metrics.attach(model);
    this.createdSec = model.createdSec ?? nowSeconds();
  }

  /** Loading failed: /health and the model routes answer 503 with the error's message. */
  failLoading(error: unknown): void {
    this.loading = { state: 'failed', error };
  }

  /** Serves on `port` (0: an ephemeral one) of `host` (default 127.0.0.1: this machine only). */
  async listen(port: number, host = '127.0.0.1'): Promise<{ port: number; host: string }> {
    if (this.server) throw new ServerError('invalid_argument', 'the server is already listening');
    const server = createAdaptorServer({ fetch: this.app.fetch }) as Server;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        this.server = undefined;
        reject(
          new ServerError('unavailable', `cannot listen on ${host}:${port}: ${error.message}`, {
            cause: error,
          }),
        );
      };
      server.once('error', fail);
      server.listen(port, host, () => {
        server.off('error', fail);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return { port: address.port, host: address.address };
  }

  /**
   * Stops taking connections and requests (new requests get 503), waits for the requests in
   * flight for up to `timeoutMs` (default 30 s), aborts those left, and closes the server.
   */
  shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.shuttingDown ??= this.drain(options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    return this.shuttingDown;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const settled = () => Promise.all([...this.inFlight].map((r) => r.done)).then(() => true);
    if (!(await within(settled(), timeoutMs))) {
      this.shutdownController.abort(new ServerError('unavailable', 'the server is shutting down'));
      for (const request of this.inFlight) request.abort();
      await within(settled(), ABORT_GRACE_MS);
    }
    if (!server) return;
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(force);
  }

  private track(abort: () => void): () => void {
    let resolve!: () => void;
    const request: InFlight = { abort, done: new Promise<void>((r) => (resolve = r)) };
    this.inFlight.add(request);
    return () => {
      this.inFlight.delete(request);
      resolve();
    };
  }

  /** The served model, or the 503 that says why there is none to serve. */
  private ready(): { model: ServedModel; pieces: TokenPieces } {
    const loading = this.loading;
    if (loading.state === 'loading') throw new ServerError('unavailable', 'the model is loading');
    if (loading.state === 'failed')
      throw new ServerError('unavailable', `the model failed to load: ${messageOf(loading.error)}`);
    const failure = loading.model.engine.failure;
    if (failure !== undefined)
      throw new ServerError('unavailable', `the engine has stopped serving: ${messageOf(failure)}`);
    return loading;
  }

  private routeContext(c: Context): RouteContext {
    const client = c.req.raw.signal;
    return {
      signal: AbortSignal.any([client, this.shutdownController.signal]),
      clientGone: () => client.aborted,
      track: (abort) => this.track(abort),
    };
  }

  private buildApp(): Hono {
    const app = new Hono();
    const o = this.options;
    const origins = o.allowedOrigins ?? [];

    app.onError((error, c) => {
      const e =
        error instanceof HTTPException
          ? new ServerError(error.status >= 500 ? 'internal' : 'invalid_argument', error.message, {
              status: error.status,
            })
          : ServerError.from(error);
      if (e.status >= 500 && e.code === 'internal')
        process.stderr.write(`[llm] error: ${error.stack ?? String(error)}\n`);
      return c.json(e.body(), e.status as 400);
    });
    app.notFound((c) => {
      const e = new ServerError('not_found', `Unknown route: ${c.req.method} ${c.req.path}`, {
        apiCode: 'not_found',
      });
      return c.json(e.body(), 404);
    });

    if (o.logRequests) {
      app.use(async (c, next) => {
        const start = performance.now();
        await next();
        const ms = (performance.now() - start).toFixed(1);
        process.stderr.write(`[llm] ${c.req.method} ${c.req.path} ${c.res.status} ${ms} ms\n`);
      });
    }

    // Browsers send Origin on cross-origin requests (and on same-origin POSTs): pages of origins
    // not allowed are refused before anything runs. Clients without Origin (curl, SDKs) pass.
    app.use(async (c, next) => {
      const origin = c.req.header('origin');
      if (origin !== undefined && !originAllowed(origin, origins, c)) {
        const e = new ServerError('invalid_argument', `requests from the origin ${origin} are not allowed`, {
          status: 403,
          apiCode: 'origin_not_allowed',
        });
        return c.json(e.body(), 403);
      }
      await next();
    });
    if (origins.length > 0) {
      app.use(
        cors({
          origin: origins.includes('*') ? '*' : (origin) => (origins.includes(origin) ? origin : null),
          maxAge: 600,
        }),
      );
    }

    app.use(async (c, next) => {
      if (this.draining && c.req.path !== '/metrics')
        throw new ServerError('unavailable', 'the server is shutting down');
      await next();
    });

    const auth = async (c: Context, next: () => Promise<void>) => {
      if (this.apiKeyDigest !== undefined) {
        const header = c.req.header('authorization') ?? '';
        const key = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
        if (key === undefined || !timingSafeEqual(digest(key), this.apiKeyDigest)) {
          const e = new ServerError(
            'invalid_argument',
            key === undefined
              ? 'Missing API key: send Authorization: Bearer <key>'
              : 'Incorrect API key provided',
            {
              status: 401,
              apiCode: 'invalid_api_key',
            },
          );
          return c.json(e.body(), 401);
        }
      }
      await next();
    };
    app.use('/v1/*', auth);
    app.use('/tokenize', auth);
    app.use('/detokenize', auth);
    const maxSize = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const limit = bodyLimit({
      maxSize,
      onError: (c) => {
        const e = new ServerError('invalid_argument', `the request body is larger than ${maxSize} bytes`, {
          status: 413,
          apiCode: 'request_too_large',
        });
        return c.json(e.body(), 413);
      },
    });

    app.get('/health', (c) => {
      this.ready();
      return c.body(null, 200);
    });
    app.get('/version', (c) => c.json({ version: o.version }));
    app.get('/metrics', async (c) =>
      c.body(await this.metrics.metrics(), 200, { 'content-type': this.metrics.contentType }),
    );

    app.get('/v1/models', (c) => {
      const { model } = this.ready();
      return c.json({
        object: 'list',
        data: [
          {
            id: model.name,
            object: 'model',
            created: this.createdSec,
            owned_by: 'llm',
            root: model.name,
            parent: null,
            max_model_len: model.maxModelLen,
          },
        ],
      });
    });

    app.post('/v1/completions', limit, async (c) => {
      const { model, pieces } = this.ready();
      return completions(await readJson(c), model, this.metrics, pieces, this.routeContext(c));
    });
    app.post('/v1/chat/completions', limit, async (c) => {
      const { model, pieces } = this.ready();
      return chatCompletions(await readJson(c), model, this.metrics, pieces, this.routeContext(c));
    });

    app.post('/tokenize', limit, async (c) => {
      const { model } = this.ready();
      const body = parseRequest(tokenizeRequestSchema, await readJson(c));
      checkModel(body.model, model);
      const tokens =
        'prompt' in body
          ? model.tokenizer.encode(body.prompt, { addSpecial: body.add_special_tokens ?? true })
          : renderPrompt(model, body.messages as ChatMessage[], body.add_generation_prompt ?? true);
      return c.json({ count: tokens.length, max_model_len: model.maxModelLen, tokens });
    });
    app.post('/detokenize', limit, async (c) => {
      const { model } = this.ready();
      const body = parseRequest(detokenizeRequestSchema, await readJson(c));
      checkModel(body.model, model);
      const vocab = model.tokenizer.vocabSize;
      const bad = body.tokens.findIndex((id) => id >= vocab);
      if (bad >= 0) {
        throw new ServerError(
          'invalid_argument',
          `token id ${body.tokens[bad]} is outside the vocabulary (0..${vocab - 1})`,
          {
            param: `tokens[${bad}]`,
          },
        );
      }
      return c.json({ prompt: model.tokenizer.decode(body.tokens) });
    });
    // Registered last: every API route above answers its own paths first.
    if (o.staticDir !== undefined) app.get('*', serveStatic({ root: o.staticDir }));
    return app;
  }
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ServerError(
      'invalid_argument',
      `the request body is not valid JSON: ${(error as Error).message}`,
      {
        apiCode: 'invalid_json',
      },
    );
  }
}

/** An allowed origin: listed, '*' listed, or the server's own (a page it serves calling back). */
function originAllowed(origin: string, origins: readonly string[], c: Context): boolean {
  if (origins.includes('*') || origins.includes(origin)) return true;
  const host = c.req.header('host');
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
