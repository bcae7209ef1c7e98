import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const gitOid = (bytes: Buffer): string =>
  createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');

export interface Fault {
  /** First request for the content sends this many bytes, then drops the connection. */
  dropAfter?: number;
  /** Every request for the content gets one byte changed. */
  corrupt?: boolean;
}

export interface FakeRepo {
  commit: string;
  files: Map<string, Buffer>;
  /** Bearer token the repository needs (a gated one). */
  token?: string;
}

export interface SeenRequest {
  method: string;
  path: string;
  range: string | undefined;
}

const isLfs = (path: string): boolean => /\.(gguf|safetensors)$/.test(path);

/**
 * A local server that lays repositories out as huggingface.co does: the recursive tree API, and
 * resolve URLs that answer LFS files with a redirect to a CDN-like /blob URL carrying X-Linked-Etag,
 * X-Linked-Size, ETag and X-Repo-Commit, small files directly; Range requests everywhere.
 */
export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** Plain files at /files/{name}, for URL references. */
  readonly plain = new Map<string, Buffer>();
  /** Faults by the SHA-256 of the content they hit. */
  readonly faults = new Map<string, Fault>();
  readonly seen: SeenRequest[] = [];
  private readonly server: Server = createServer((request, response) => this.answer(request, response));
  endpoint = '';

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  resolveRequests(): SeenRequest[] {
    return this.seen.filter((seen) => seen.path.includes('/resolve/') || seen.path.startsWith('/blob/'));
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.endpoint);
    const path = decodeURIComponent(url.pathname);
    this.seen.push({ method: request.method ?? 'GET', path, range: request.headers.range });
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const blob = /^\/blob\/([0-9a-f]{64})$/.exec(path);
    const plain = /^\/files\/(.+)$/.exec(path);
    if (tree || resolve) {
      const [, repoId = '', revision = ''] = (tree ?? resolve) as RegExpExecArray;
      const repo = this.repos.get(repoId);
      if (!repo) return this.fail(response, 404, 'RepoNotFound', 'Repository not found');
      if (repo.token !== undefined && request.headers.authorization !== `Bearer ${repo.token}`) {
        return this.fail(response, 401, 'GatedRepo', 'Access to this model is restricted');
      }
      if (revision !== 'main' && revision !== repo.commit)
        return this.fail(response, 404, 'RevisionNotFound', 'Invalid rev id');
      if (tree) return this.listTree(repo, response);
      const file = resolve?.[3] ?? '';
      const bytes = repo.files.get(file);
      if (!bytes) return this.fail(response, 404, 'EntryNotFound', 'Entry not found');
      response.setHeader('x-repo-commit', repo.commit);
      if (isLfs(file)) {
        // The hub's answer for an LFS file: its own headers, then a redirect to the storage CDN.
        response.writeHead(302, {
          location: `/blob/${sha256(bytes)}`,
          etag: `"${sha256(bytes)}"`,
          'x-linked-etag': `"${sha256(bytes)}"`,
          'x-linked-size': String(bytes.length),
        });
        return void response.end();
      }
      response.setHeader('etag', `"${gitOid(bytes)}"`);
      return this.send(request, response, bytes);
    }
    if (blob) {
      for (const repo of this.repos.values()) {
        for (const bytes of repo.files.values()) {
          if (sha256(bytes) === blob[1]) return this.send(request, response, bytes);
        }
      }
    }
    if (plain) {
      const bytes = this.plain.get(plain[1] ?? '');
      if (bytes) return this.send(request, response, bytes);
    }
    this.fail(response, 404, 'EntryNotFound', 'Not found');
  }

  private listTree(repo: FakeRepo, response: ServerResponse): void {
    const folders = new Set<string>();
    const listing: unknown[] = [];
    for (const [path, bytes] of [...repo.files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const parts = path.split('/');
      for (let depth = 1; depth < parts.length; depth++) folders.add(parts.slice(0, depth).join('/'));
      listing.push({
        type: 'file',
        oid: gitOid(
          isLfs(path)
            ? Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\n`)
            : bytes,
        ),
        size: bytes.length,
        path,
        ...(isLfs(path) ? { lfs: { oid: sha256(bytes), size: bytes.length, pointerSize: 134 } } : {}),
      });
    }
    for (const folder of folders)
      listing.push({ type: 'directory', oid: 'f'.repeat(40), size: 0, path: folder });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(listing));
  }

  private send(request: IncomingMessage, response: ServerResponse, original: Buffer): void {
    const fault = this.faults.get(sha256(original)) ?? {};
    let bytes = original;
    if (fault.corrupt) {
      bytes = Buffer.from(original);
      bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x5a;
    }
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= bytes.length && range) {
      response.writeHead(416, { 'content-range': `bytes */${bytes.length}` });
      return void response.end();
    }
    const body = bytes.subarray(start);
    response.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (request.method === 'HEAD') return void response.end();
    if (fault.dropAfter !== undefined) {
      const cut = fault.dropAfter;
      delete fault.dropAfter;
      // The pause lets the client take in the bytes before the connection breaks under them.
      response.write(body.subarray(0, cut), () => setTimeout(() => response.destroy(), 100));
      return;
    }
    response.end(body);
  }

  private fail(response: ServerResponse, status: number, code: string, message: string): void {
    response.writeHead(status, {
      'x-error-code': code,
      'x-error-message': message,
      'content-type': 'application/json',
    });
    response.end(JSON.stringify({ error: message }));
  }
}
