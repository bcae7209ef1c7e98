import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeCause, failedAnswer, hubRequest, type HubRequestContext } from './hub-http.js';
import { ModelDownloadError } from './model-download-error.js';

/** Bytes of one file received so far; `totalBytes` is undefined when the server does not say. */
export interface DownloadProgress {
  /** The file's path in its repository, or its URL's file name. */
  readonly file: string;
  readonly receivedBytes: number;
  readonly totalBytes: number | undefined;
}

/** What the content must be; whatever is known of it beforehand (a hub listing) or from headers. */
export interface ExpectedContent {
  readonly size?: number;
  /** SHA-256 hex of the content: a Git LFS object id. */
  readonly sha256?: string;
  /** Git blob id: SHA-1 of `blob {size}\0` + content; checked only when `size` is known too. */
  readonly gitOid?: string;
}

export interface DownloadRequest {
  readonly url: string;
  /** Where the verified file ends up; it is written as `{destination}.incomplete` until then. */
  readonly destination: string;
  /** Name in progress reports and errors. */
  readonly file: string;
  readonly expected: ExpectedContent;
  readonly onProgress: ((progress: DownloadProgress) => void) | undefined;
}

/**
 * Downloads one file, resumably and verified. A previous attempt's `.incomplete` file is hashed
 * and continued with `Range: bytes=N-` (started over when the server answers 200); the content is
 * hashed while it streams; a size or hash that differs from the expected one (or from the hub's
 * `X-Linked-Etag` / `X-Linked-Size`) deletes the partial file and raises a `verification` error.
 * Returns the first answer's headers (the hub's `X-Repo-Commit` is there).
 */
export async function downloadFile(
  context: HubRequestContext,
  request: DownloadRequest,
): Promise<Headers | undefined> {
  const partial = `${request.destination}.incomplete`;
  await mkdir(dirname(partial), { recursive: true });
  let have = (await stat(partial).catch(() => undefined))?.size ?? 0;
  let expected = request.expected;
  if (expected.size !== undefined && have > expected.size) {
    await rm(partial, { force: true });
    have = 0;
  }

  let firstHeaders: Headers | undefined;
  let hashes = startHashes(expected);
  if (have > 0) await hashPrefix(partial, have, hashes);

  // A previous run that stopped between the last byte and the rename needs no request at all.
  if (!(expected.size !== undefined && have === expected.size)) {
    const answer = await hubRequest(
      context,
      request.url,
      have > 0 ? { headers: { range: `bytes=${have}-` } } : {},
    );
    const { response } = answer;
    firstHeaders = answer.firstHeaders;
    expected = withHeaders(expected, firstHeaders);
    let append = false;
    if (response.status === 206 && have > 0 && rangeStart(response.headers.get('content-range')) === have) {
      append = true;
    } else if (response.status === 416 && have > 0) {
      // Nothing left past byte N: the partial file may be whole; verification decides.
      await response.body?.cancel();
      append = true;
    } else if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw await failedAnswer(context, `downloading ${request.file}`, response);
    }
    if (!append) {
      have = 0;
      hashes = startHashes(expected);
    }
    const contentLength = Number(response.headers.get('content-length') ?? Number.NaN);
    const totalBytes =
      expected.size ??
      (Number.isFinite(contentLength) && response.status !== 416 ? have + contentLength : undefined);
    if (response.status !== 416 && response.body) {
      have = await receive(context, request, response.body, partial, append, have, totalBytes, hashes);
    }
    if (expected.size === undefined && totalBytes !== undefined) expected = { ...expected, size: totalBytes };
  }

  await verify(context, request, partial, have, expected, hashes);
  await rename(partial, request.destination);
  return firstHeaders;
}

interface Hashes {
  readonly sha256: Hash;
  readonly gitSha1: Hash | undefined;
}

function startHashes(expected: ExpectedContent): Hashes {
  const gitSha1 =
    expected.gitOid !== undefined && expected.sha256 === undefined && expected.size !== undefined
      ? createHash('sha1').update(`blob ${expected.size}\0`)
      : undefined;
  return { sha256: createHash('sha256'), gitSha1 };
}

async function hashPrefix(path: string, length: number, hashes: Hashes): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) {
    hashes.sha256.update(chunk as Buffer);
    hashes.gitSha1?.update(chunk as Buffer);
  }
}

async function receive(
  context: HubRequestContext,
  request: DownloadRequest,
  body: ReadableStream<Uint8Array>,
  partial: string,
  append: boolean,
  start: number,
  totalBytes: number | undefined,
  hashes: Hashes,
): Promise<number> {
  let received = start;
  const file: FileHandle = await open(partial, append ? 'a' : 'w');
  const reader = body.getReader();
  try {
    request.onProgress?.({ file: request.file, receivedBytes: received, totalBytes });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await file.write(value);
      hashes.sha256.update(value);
      hashes.gitSha1?.update(value);
      received += value.byteLength;
      request.onProgress?.({ file: request.file, receivedBytes: received, totalBytes });
    }
  } catch (cause) {
    if (context.signal?.aborted) throw context.signal.reason;
    const of = totalBytes === undefined ? '' : ` of ${totalBytes}`;
    throw new ModelDownloadError(
      context.reference,
      'network',
      `the download of ${request.file} broke off at byte ${received}${of} (${describeCause(cause)}); ` +
        'run again to resume it',
      { cause },
    );
  } finally {
    reader.releaseLock();
    await file.close();
  }
  return received;
}

async function verify(
  context: HubRequestContext,
  request: DownloadRequest,
  partial: string,
  size: number,
  expected: ExpectedContent,
  hashes: Hashes,
): Promise<void> {
  let problem: string | undefined;
  if (expected.size !== undefined && size !== expected.size) {
    problem = `${size} bytes arrived where ${expected.size} were announced`;
  } else if (expected.sha256 !== undefined) {
    const actual = hashes.sha256.digest('hex');
    if (actual !== expected.sha256.toLowerCase()) problem = `SHA-256 ${actual}, expected ${expected.sha256}`;
  } else if (expected.gitOid !== undefined && hashes.gitSha1 !== undefined) {
    const actual = hashes.gitSha1.digest('hex');
    if (actual !== expected.gitOid.toLowerCase())
      problem = `git blob id ${actual}, expected ${expected.gitOid}`;
  }
  if (problem === undefined) return;
  // A partial file with wrong bytes would be resumed into another wrong file: start over next time.
  await rm(partial, { force: true });
  throw new ModelDownloadError(
    context.reference,
    'verification',
    `${request.file} arrived corrupted (${problem}); the partial download was deleted, run again to download it anew`,
  );
}

/** The hub's own description of an LFS file, on the resolve answer before the CDN redirect. */
function withHeaders(expected: ExpectedContent, headers: Headers): ExpectedContent {
  const linkedEtag = unquote(headers.get('x-linked-etag'));
  const linkedSize = Number(headers.get('x-linked-size') ?? Number.NaN);
  return {
    ...expected,
    ...(expected.sha256 === undefined && linkedEtag !== undefined && /^[0-9a-f]{64}$/i.test(linkedEtag)
      ? { sha256: linkedEtag }
      : {}),
    ...(expected.size === undefined && Number.isSafeInteger(linkedSize) && linkedSize >= 0
      ? { size: linkedSize }
      : {}),
  };
}

function rangeStart(contentRange: string | null): number | undefined {
  const match = /^bytes (\d+)-/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

/** An ETag without `W/` and quotes: how huggingface_hub names blobs. */
export function unquote(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  const bare = etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return bare === '' ? undefined : bare;
}
