import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as z from 'zod/mini';
import { englishMessages } from '../zod-messages.js';
import { downloadFile, unquote, type DownloadProgress } from './download-file.js';
import { chooseHubFiles, shardsOfIndex, type HubChoice, type HubFileEntry } from './hub-file-choice.js';
import { failedAnswer, hubRequest, listHubFiles, type HubRequestContext } from './hub-http.js';
import { defaultModelCacheDir, HubRepoCache, isFile, urlCacheDir } from './model-cache.js';
import { ModelDownloadError } from './model-download-error.js';
import { parseModelReference } from './model-reference.js';

export interface ResolveModelOptions {
  /** Default: `$LLM_CACHE_DIR`, else `$XDG_CACHE_HOME/llm`, else `~/.cache/llm`. */
  readonly cacheDir?: string;
  /** Hugging Face endpoint; default `$HF_ENDPOINT`, else `https://huggingface.co`. */
  readonly endpoint?: string;
  /** Resolve from the cache only; default true when `HF_HUB_OFFLINE` or `LLM_OFFLINE` is set (1, true, yes, on). */
  readonly offline?: boolean;
  /** Access token for gated and private repositories; default `$HF_TOKEN`. */
  readonly token?: string;
  /** Called for every chunk received. */
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Called when the network failed and a cached copy is used instead. */
  readonly onWarning?: (message: string) => void;
  /** Stops a download; its partial file stays, and the next call resumes it. */
  readonly signal?: AbortSignal;
}

export interface ResolvedModel {
  /** A GGUF (or other single) file, or a Hugging Face folder (config.json, tokenizer, safetensors). */
  readonly path: string;
  /** The folder's tokenizer.json (else tokenizer.model) when `path` is a Hugging Face folder. */
  readonly tokenizerPath?: string;
  /** Whether anything was downloaded by this call. */
  readonly downloaded: boolean;
  /**
   * Where it came from: the path itself, the URL, or `owner/repo@commit/file` (`owner/repo@commit`
   * for a folder), itself a reference that resolves to the same files.
   */
  readonly source: string;
  readonly kind: 'path' | 'url' | 'hub';
  /** The network failed and a complete cached copy was used without checking for a newer one. */
  readonly fromCacheAfterNetworkError: boolean;
}

/**
 * Turns a `--model` value into local files: an existing path as it is; an `http(s)://` URL, or a
 * Hugging Face reference (`owner/repo`, `owner/repo:Q8_0`, `owner/repo/path/file.gguf`, with
 * `@revision` after the repository) downloaded into the cache, resumably and verified. Offline,
 * or when the network fails, a complete cached copy resolves as it did online.
 */
export async function resolveModelReference(
  reference: string,
  options: ResolveModelOptions = {},
): Promise<ResolvedModel> {
  if (reference.trim() === '') {
    throw new ModelDownloadError(
      reference,
      'bad-reference',
      'a model path, URL or Hugging Face owner/repo is needed',
    );
  }
  // An existing path always wins, so a local folder named like owner/repo is never downloaded over.
  if (
    await stat(reference).then(
      () => true,
      () => false,
    )
  ) {
    const path = resolve(reference);
    return { path, downloaded: false, source: path, kind: 'path', fromCacheAfterNetworkError: false };
  }
  const parsed = parseModelReference(reference);
  const settings = settingsOf(reference, options);
  switch (parsed.kind) {
    case 'missing-path':
      throw new ModelDownloadError(reference, 'not-found', 'no such file or folder');
    case 'url':
      return resolveUrl(parsed.url, settings);
    case 'hub': {
      const want = {
        ...(parsed.file === undefined ? {} : { file: parsed.file }),
        ...(parsed.quant === undefined ? {} : { quant: parsed.quant }),
      };
      return resolveHub(parsed.repoId, parsed.revision, want, settings);
    }
  }
}

interface Settings {
  readonly reference: string;
  readonly cacheDir: string;
  readonly endpoint: string;
  readonly offline: boolean;
  readonly context: HubRequestContext;
  readonly onProgress: ((progress: DownloadProgress) => void) | undefined;
  readonly onWarning: ((message: string) => void) | undefined;
}

const trueWords = new Set(['1', 'true', 'yes', 'on']);

function settingsOf(reference: string, options: ResolveModelOptions): Settings {
  const env = process.env;
  const endpoint = (options.endpoint ?? env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, '');
  const token = options.token ?? env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'];
  const offline =
    options.offline ??
    [env['HF_HUB_OFFLINE'], env['LLM_OFFLINE']].some((value) => trueWords.has((value ?? '').toLowerCase()));
  return {
    reference,
    cacheDir: options.cacheDir ?? defaultModelCacheDir(env),
    endpoint,
    offline,
    context: {
      reference,
      token: token ? token : undefined,
      tokenOrigin: new URL(endpoint).origin,
      signal: options.signal,
    },
    onProgress: options.onProgress,
    onWarning: options.onWarning,
  };
}

function notCached(settings: Settings, where: string): ModelDownloadError {
  return new ModelDownloadError(
    settings.reference,
    'not-cached',
    `not in the model cache (${where}) and downloads are off (offline mode); ` +
      'run once with network access, or unset HF_HUB_OFFLINE and LLM_OFFLINE',
  );
}

/** Network failures and server errors are worth falling back to the cache for; a 404 is an answer. */
function isUnreachable(error: unknown): boolean {
  return error instanceof ModelDownloadError && (error.problem === 'network' || error.problem === 'http');
}

/**
 * A plain URL: `url/{sha256 of the URL}/{file name}`. A complete cached file is used without asking
 * the server again: a URL is taken to name fixed content (use a hub reference to follow a branch).
 */
async function resolveUrl(url: string, settings: Settings): Promise<ResolvedModel> {
  const dir = urlCacheDir(settings.cacheDir, url);
  const lastSegment = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  const fileName =
    /^[^/\\]+$/.test(lastSegment) && lastSegment !== '.' && lastSegment !== '..' ? lastSegment : 'model';
  const path = join(dir, fileName);
  const result = { path, source: url, kind: 'url' as const, fromCacheAfterNetworkError: false };
  if (await isFile(path)) return { ...result, downloaded: false };
  if (settings.offline) throw notCached(settings, path);
  await downloadFile(settings.context, {
    url,
    destination: path,
    file: fileName,
    expected: {},
    onProgress: settings.onProgress,
  });
  // Lets a person (or a cache cleaner) tell which URL a hashed folder holds.
  await writeFile(join(dir, 'url.txt'), `${url}\n`);
  return { ...result, downloaded: true };
}

const commitPattern = /^[0-9a-f]{40}$/;

interface Want {
  readonly file?: string;
  readonly quant?: string;
}

async function resolveHub(
  repoId: string,
  revision: string,
  want: Want,
  settings: Settings,
): Promise<ResolvedModel> {
  const cache = new HubRepoCache(settings.cacheDir, repoId);
  const fromCache = (): Promise<ResolvedModel | undefined> =>
    resolveFromCache(cache, repoId, revision, want, settings);
  if (settings.offline) return (await fromCache()) ?? Promise.reject(notCached(settings, cache.dir));
  // A commit never changes: when its files are here, the network has nothing to add.
  if (commitPattern.test(revision)) {
    const cached = await fromCache();
    if (cached) return cached;
  }

  let listing: HubFileEntry[];
  try {
    listing = await listHubFiles(settings.context, settings.endpoint, repoId, revision);
  } catch (error) {
    if (!isUnreachable(error)) throw error;
    const cached = await fromCache();
    if (!cached) throw error;
    settings.onWarning?.(
      `${settings.reference}: ${(error as Error).message}; using the cached copy ${cached.source}, which may be outdated`,
    );
    return { ...cached, fromCacheAfterNetworkError: true };
  }

  const choice = chooseHubFiles(settings.reference, listing, want);
  const byPath = new Map(listing.map((entry) => [entry.path, entry]));
  // The listing recorded with the cached commit is the same as now: the revision has not moved.
  const cachedCommit = commitPattern.test(revision) ? revision : await cache.readRef(revision);
  const cachedListing = cachedCommit === undefined ? undefined : await cache.readListing(cachedCommit);
  let commit = cachedListing !== undefined && sameListing(cachedListing, listing) ? cachedCommit : undefined;
  let downloaded = false;

  const ensure = async (path: string): Promise<string> => {
    const entry = byPath.get(path);
    if (entry === undefined) {
      throw new ModelDownloadError(settings.reference, 'not-found', `the repository has no file ${path}`);
    }
    const blobName = entry.lfs?.oid ?? entry.oid;
    const blob = cache.blobPath(blobName);
    if (await isFile(blob)) return blob;
    const headers = await downloadFile(settings.context, {
      url: resolveUrlOf(settings.endpoint, repoId, commit ?? revision, path),
      destination: blob,
      file: path,
      expected: entry.lfs
        ? { size: entry.lfs.size, sha256: entry.lfs.oid }
        : { size: entry.size, ...(entry.oid ? { gitOid: entry.oid } : {}) },
      onProgress: settings.onProgress,
    });
    downloaded = true;
    commit ??= commitOf(headers);
    return blob;
  };

  const files = [...choice.files];
  for (const path of choice.files) await ensure(path);
  if (choice.kind === 'folder' && choice.index !== undefined) {
    for (const shard of await shardsFrom(settings.reference, choice.index, await ensure(choice.index))) {
      files.push(shard);
      await ensure(shard);
    }
  }
  if (commit === undefined) {
    // Every blob was cached but the revision moved: ask the hub (headers only) which commit it is now.
    const first = files[0] ?? '';
    const { response, firstHeaders } = await hubRequest(
      settings.context,
      resolveUrlOf(settings.endpoint, repoId, revision, first),
      {
        method: 'HEAD',
        follow: false,
      },
    );
    if (response.status >= 400) throw await failedAnswer(settings.context, `checking ${first}`, response);
    commit = commitOf(firstHeaders);
  }
  // A server that names no commit (a plain mirror) gets its snapshot filed under the revision name.
  const snapshot = commit ?? revision;
  for (const path of files) {
    const entry = byPath.get(path);
    if (entry) await cache.linkSnapshot(snapshot, path, entry.lfs?.oid ?? entry.oid);
  }
  await cache.writeListing(snapshot, listing);
  if (snapshot !== revision) await cache.writeRef(revision, snapshot);
  return { ...resolvedFrom(cache, repoId, snapshot, choice), downloaded, fromCacheAfterNetworkError: false };
}

/**
 * The reference resolved from the cache alone: the commit from `refs/{revision}`, the choice made
 * again over the listing recorded with it (or, for a snapshot another tool downloaded, over the
 * files in it), and every chosen file present. Undefined when anything is missing.
 */
async function resolveFromCache(
  cache: HubRepoCache,
  repoId: string,
  revision: string,
  want: Want,
  settings: Settings,
): Promise<ResolvedModel | undefined> {
  const commit = commitPattern.test(revision) ? revision : await cache.readRef(revision);
  if (commit === undefined) return undefined;
  const listing = (await cache.readListing(commit)) ?? (await cache.snapshotListing(commit));
  if (listing === undefined) return undefined;
  let choice: HubChoice;
  try {
    choice = chooseHubFiles(settings.reference, listing, want);
  } catch (error) {
    // An unknown quantization in the full recorded listing is as much an answer as the hub's.
    if ((await cache.readListing(commit)) !== undefined) throw error;
    return undefined;
  }
  const files = [...choice.files];
  if (choice.kind === 'folder' && choice.index !== undefined) {
    const index = cache.snapshotPath(commit, choice.index);
    if (!(await isFile(index))) return undefined;
    files.push(...(await shardsFrom(settings.reference, choice.index, index)));
  }
  for (const path of files) {
    if (!(await isFile(cache.snapshotPath(commit, path)))) return undefined;
  }
  return {
    ...resolvedFrom(cache, repoId, commit, choice),
    downloaded: false,
    fromCacheAfterNetworkError: false,
  };
}

function resolvedFrom(
  cache: HubRepoCache,
  repoId: string,
  commit: string,
  choice: HubChoice,
): Omit<ResolvedModel, 'downloaded' | 'fromCacheAfterNetworkError'> {
  if (choice.kind === 'gguf') {
    const file = choice.files[0] ?? '';
    return { path: cache.snapshotPath(commit, file), source: `${repoId}@${commit}/${file}`, kind: 'hub' };
  }
  const tokenizer = ['tokenizer.json', 'tokenizer.model'].find((name) => choice.files.includes(name));
  return {
    path: cache.snapshotDir(commit),
    ...(tokenizer === undefined ? {} : { tokenizerPath: cache.snapshotPath(commit, tokenizer) }),
    source: `${repoId}@${commit}`,
    kind: 'hub',
  };
}

function resolveUrlOf(endpoint: string, repoId: string, revision: string, path: string): string {
  const encodedPath = path.split('/').map(encodeURIComponent).join('/');
  return `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

function commitOf(headers: Headers | undefined): string | undefined {
  const commit = unquote(headers?.get('x-repo-commit') ?? null);
  // Only a well-formed commit becomes a folder name in the cache.
  return commit !== undefined && commitPattern.test(commit) ? commit : undefined;
}

function sameListing(a: readonly HubFileEntry[], b: readonly HubFileEntry[]): boolean {
  const key = (entries: readonly HubFileEntry[]): string =>
    JSON.stringify(entries.map((entry) => [entry.path, entry.oid, entry.lfs?.oid ?? '']).sort());
  return key(a) === key(b);
}

const indexSchema = z.looseObject({ weight_map: z.record(z.string(), z.string()) });

async function shardsFrom(reference: string, indexPath: string, localPath: string): Promise<string[]> {
  let parsed;
  try {
    parsed = indexSchema.safeParse(JSON.parse(await readFile(localPath, 'utf8')), { error: englishMessages });
  } catch (cause) {
    throw new ModelDownloadError(reference, 'http', `${indexPath} is not JSON`, { cause });
  }
  if (!parsed.success) {
    throw new ModelDownloadError(
      reference,
      'http',
      `${indexPath} has no valid weight_map: ${z.prettifyError(parsed.error)}`,
    );
  }
  const shards = shardsOfIndex(parsed.data.weight_map);
  const bad = shards.find(
    (name) => name.includes('/') || name.includes('\\') || name === '..' || name === '.',
  );
  if (bad !== undefined)
    throw new ModelDownloadError(reference, 'http', `${indexPath} names a shard outside the folder: ${bad}`);
  return shards;
}
