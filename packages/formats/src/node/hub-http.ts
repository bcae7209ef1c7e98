import * as z from 'zod/mini';
import { englishMessages } from '../zod-messages.js';
import type { HubFileEntry } from './hub-file-choice.js';
import { ModelDownloadError } from './model-download-error.js';

/** How requests are made: which reference they serve (for errors), the token and where it may go. */
export interface HubRequestContext {
  readonly reference: string;
  /** Sent as `Authorization: Bearer` to `tokenOrigin` only, never to a CDN a redirect leads to. */
  readonly token: string | undefined;
  readonly tokenOrigin: string;
  readonly signal: AbortSignal | undefined;
}

export interface HubAnswer {
  /** The final answer, after redirects. */
  readonly response: Response;
  /** Headers of the first answer: the hub puts X-Repo-Commit and X-Linked-Etag on its redirect. */
  readonly firstHeaders: Headers;
}

// Browsers and undici stop at 20; the hub needs two (a renamed repository, then the CDN).
const maxRedirects = 10;

/**
 * A request that follows redirects itself, so that the token goes to the hub and not to the CDN
 * it redirects to, and the hub's own headers on the redirect are kept. A failure to connect is a
 * `network` ModelDownloadError; an abort rethrows the signal's reason.
 */
export async function hubRequest(
  context: HubRequestContext,
  url: string,
  init: {
    readonly method?: 'GET' | 'HEAD';
    readonly headers?: Readonly<Record<string, string>>;
    readonly follow?: boolean;
  },
): Promise<HubAnswer> {
  let current = url;
  let firstHeaders: Headers | undefined;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { ...init.headers };
    if (context.token && new URL(current).origin === context.tokenOrigin) {
      headers['authorization'] = `Bearer ${context.token}`;
    }
    let response: Response;
    try {
      response = await fetch(current, {
        method: init.method ?? 'GET',
        headers,
        redirect: 'manual',
        ...(context.signal ? { signal: context.signal } : {}),
      });
    } catch (cause) {
      if (context.signal?.aborted) throw context.signal.reason;
      throw new ModelDownloadError(
        context.reference,
        'network',
        `cannot reach ${origin(current)} (${describeCause(cause)})`,
        {
          cause,
        },
      );
    }
    firstHeaders ??= response.headers;
    const location = response.headers.get('location');
    if (init.follow === false || response.status < 300 || response.status >= 400 || location === null) {
      return { response, firstHeaders };
    }
    await response.body?.cancel();
    if (hop >= maxRedirects) {
      throw new ModelDownloadError(
        context.reference,
        'http',
        `more than ${maxRedirects} redirects from ${url}`,
      );
    }
    current = new URL(location, current).href;
  }
}

/**
 * The error for an answer that is not a success: `not-found` for 404 (with the hub's
 * X-Error-Code saying whether the repository, revision or file is missing), `access-denied` for
 * 401/403, `http` otherwise. `what` names the thing asked for.
 */
export async function failedAnswer(
  context: HubRequestContext,
  what: string,
  response: Response,
): Promise<ModelDownloadError> {
  const detail = (await response.text().catch(() => '')).slice(0, 200).trim();
  const status = `HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
  if (response.status === 401 || response.status === 403) {
    // The hub answers 401 for a private repository and for one that does not exist alike.
    const advice = context.token
      ? 'the token in use (HF_TOKEN) has no access to it: accept the model terms on its page, or use a token that can read it'
      : 'it is gated or private (or does not exist): set HF_TOKEN to an access token that can read it';
    return new ModelDownloadError(context.reference, 'access-denied', `${what}: ${status}; ${advice}`);
  }
  if (response.status === 404) {
    const hubCode = response.headers.get('x-error-code');
    const missing =
      hubCode === 'RepoNotFound'
        ? 'no such repository'
        : hubCode === 'RevisionNotFound'
          ? 'no such revision'
          : hubCode === 'EntryNotFound'
            ? 'no such file'
            : 'not found';
    return new ModelDownloadError(context.reference, 'not-found', `${what}: ${missing} (${status})`);
  }
  return new ModelDownloadError(context.reference, 'http', `${what}: ${status}`);
}

const treeSchema = z.array(
  z.looseObject({
    type: z.string(),
    // Paths become file names under the cache: none may climb out of its snapshot folder.
    path: z.string().check(
      z.refine(
        (path) =>
          !path.includes('\\') &&
          path.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
        {
          message: 'a path inside the repository',
        },
      ),
    ),
    size: z.optional(z.number()),
    // Blobs are named by it (or by the LFS id), so a file without one cannot be cached.
    oid: z.string().check(z.regex(/^[0-9a-f]{40,64}$/)),
    lfs: z.optional(z.looseObject({ oid: z.string().check(z.regex(/^[0-9a-f]{64}$/)), size: z.number() })),
  }),
);

/**
 * Every file of a repository at a revision: `GET {endpoint}/api/models/{repo}/tree/{revision}
 * ?recursive=true`, following the `Link: <...>; rel="next"` pages the hub splits long listings into.
 */
export async function listHubFiles(
  context: HubRequestContext,
  endpoint: string,
  repoId: string,
  revision: string,
): Promise<HubFileEntry[]> {
  const entries: HubFileEntry[] = [];
  let url: string | undefined =
    `${endpoint}/api/models/${repoId}/tree/${encodeURIComponent(revision)}?recursive=true`;
  while (url !== undefined) {
    const { response } = await hubRequest(context, url, { headers: { accept: 'application/json' } });
    if (!response.ok) throw await failedAnswer(context, `listing ${repoId} at ${revision}`, response);
    let body: unknown;
    try {
      body = await response.json();
    } catch (cause) {
      throw new ModelDownloadError(context.reference, 'http', `the file listing from ${url} is not JSON`, {
        cause,
      });
    }
    const parsed = treeSchema.safeParse(body, { error: englishMessages });
    if (!parsed.success) {
      throw new ModelDownloadError(
        context.reference,
        'http',
        `the file listing from ${url} is not a hub tree listing: ${z.prettifyError(parsed.error)}`,
      );
    }
    for (const entry of parsed.data) {
      if (entry.type !== 'file') continue;
      entries.push({
        path: entry.path,
        size: entry.size ?? entry.lfs?.size ?? 0,
        oid: entry.oid,
        ...(entry.lfs ? { lfs: { oid: entry.lfs.oid, size: entry.lfs.size } } : {}),
      });
    }
    url = nextPage(response.headers.get('link'), url);
  }
  return entries;
}

function nextPage(link: string | null, base: string): string | undefined {
  const next = link?.split(',').find((part) => /rel="?next"?/.test(part));
  const target = next === undefined ? undefined : /<([^>]+)>/.exec(next)?.[1];
  return target === undefined ? undefined : new URL(target, base).href;
}

function origin(url: string): string {
  return new URL(url).origin;
}

/** undici's "fetch failed" hides the reason in `cause`: ECONNREFUSED, ENOTFOUND, a TLS failure. */
export function describeCause(error: unknown): string {
  let current: unknown = error;
  let text = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 4 && current instanceof Error && current.cause !== undefined; depth++) {
    current = current.cause;
    const code = (current as { code?: unknown }).code;
    text = typeof code === 'string' ? code : current instanceof Error ? current.message : String(current);
  }
  return text;
}
