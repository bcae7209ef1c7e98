import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorCodeOf } from '@llm/quant';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../testing/fake-hub.js';
import { modelFile } from '../testing/models-dir.js';
import { ModelDownloadError } from './model-download-error.js';
import { openGguf, writeSyntheticLlamaGguf } from './open-files.js';
import { resolveModelReference, type ResolveModelOptions } from './resolve-model-reference.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function failureOf(promise: Promise<unknown>): Promise<ModelDownloadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelDownloadError);
  return error as ModelDownloadError;
}

describe('resolveModelReference', () => {
  const hub = new FakeHub();
  let work: string;
  let gguf: Buffer;
  let ggufPath: string;
  let cacheDir: string;
  const commit = 'c0ffee'.padEnd(40, '0');
  const folderFiles = {
    'config.json': Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 64 })),
    'tokenizer.json': Buffer.from(JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1 } } })),
    'tokenizer_config.json': Buffer.from('{"add_bos_token": true}'),
    'model.safetensors': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) & 0xff)),
    'consolidated.safetensors': Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 17 + 3) & 0xff)),
    'README.md': Buffer.from('# tiny folder model\n'),
  };

  const options = (extra: ResolveModelOptions = {}): ResolveModelOptions => ({
    cacheDir,
    endpoint: hub.endpoint,
    offline: false,
    token: '',
    ...extra,
  });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'llm-hub-'));
    const real = modelFile('stories260K.gguf');
    if (real !== undefined) {
      ggufPath = real;
    } else {
      // Without the shared models the download paths are tested on a synthetic GGUF all the same.
      ggufPath = join(work, 'synthetic.gguf');
      await writeSyntheticLlamaGguf(ggufPath, { seed: 7 });
    }
    gguf = await readFile(ggufPath);
    hub.repos.set('tiny/stories-GGUF', {
      commit,
      files: new Map([
        ['README.md', Buffer.from('# stories260K in two quantizations\n')],
        ['stories-Q8_0.gguf', gguf],
        ['stories-Q4_K_M.gguf', gguf],
        ['mmproj-stories-F16.gguf', Buffer.from('not a real projector, never downloaded')],
        ['extra/stories-F32.gguf', gguf],
      ]),
    });
    hub.repos.set('tiny/folder', {
      commit: 'f01de2'.padEnd(40, '1'),
      files: new Map(Object.entries(folderFiles)),
    });
    hub.repos.set('tiny/gated', {
      commit: 'ba7e5'.padEnd(40, '2'),
      token: 'hf_secret',
      files: new Map([['model-Q4_K_M.gguf', gguf]]),
    });
    hub.plain.set('stories260K.gguf', gguf);
    await hub.start();
  });

  afterAll(async () => {
    await hub.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(async () => {
    cacheDir = await mkdtemp(join(work, 'cache-'));
    hub.seen.length = 0;
  });

  afterEach(() => {
    hub.faults.clear();
  });

  it('picks the Q4_K_M GGUF of owner/repo and files it in the hub cache layout', async () => {
    const resolved = await resolveModelReference('tiny/stories-GGUF', options());
    const repoDir = join(cacheDir, 'hub', 'models--tiny--stories-GGUF');
    expect(resolved).toEqual({
      path: join(repoDir, 'snapshots', commit, 'stories-Q4_K_M.gguf'),
      downloaded: true,
      source: `tiny/stories-GGUF@${commit}/stories-Q4_K_M.gguf`,
      kind: 'hub',
      fromCacheAfterNetworkError: false,
    });
    expect(await readFile(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    expect((await lstat(resolved.path)).isSymbolicLink()).toBe(true);
    expect(await readlink(resolved.path)).toBe(join('..', '..', 'blobs', sha256(gguf)));
    expect(sha256(await readFile(resolved.path))).toBe(sha256(gguf));
    expect(await readdir(join(repoDir, 'blobs'))).toEqual([sha256(gguf)]);
    // The projector and the README are listed, never fetched.
    expect(hub.resolveRequests().map((seen) => seen.path)).toEqual([
      '/tiny/stories-GGUF/resolve/main/stories-Q4_K_M.gguf',
      `/blob/${sha256(gguf)}`,
    ]);
  });

  it('picks a quantization named after a colon, in any case', async () => {
    const resolved = await resolveModelReference('tiny/stories-GGUF:q8_0', options());
    expect(resolved.path).toBe(
      join(cacheDir, 'hub', 'models--tiny--stories-GGUF', 'snapshots', commit, 'stories-Q8_0.gguf'),
    );
    expect(hub.seen.some((seen) => seen.path.endsWith('/resolve/main/stories-Q8_0.gguf'))).toBe(true);
  });

  it('downloads a file named by its path in the repository, nested folders included', async () => {
    const resolved = await resolveModelReference('tiny/stories-GGUF/extra/stories-F32.gguf', options());
    expect(resolved.path).toBe(
      join(cacheDir, 'hub', 'models--tiny--stories-GGUF', 'snapshots', commit, 'extra', 'stories-F32.gguf'),
    );
    expect(sha256(await readFile(resolved.path))).toBe(sha256(gguf));
  });

  it('opens the downloaded GGUF with the same tensors as the original', async () => {
    const resolved = await resolveModelReference('tiny/stories-GGUF', options());
    const [original, downloaded] = [await openGguf(ggufPath), await openGguf(resolved.path)];
    try {
      expect(downloaded.tensors.length).toBeGreaterThan(0);
      expect(downloaded.tensors).toEqual(original.tensors);
      expect([...downloaded.metadata.keys()]).toEqual([...original.metadata.keys()]);
      const first = original.tensors[0]?.name ?? '';
      expect(await downloaded.readTensorBytes(first)).toEqual(await original.readTensorBytes(first));
    } finally {
      await original.close();
      await downloaded.close();
    }
  });

  it('reports an unknown quantization as not_found, listing the available ones', async () => {
    const error = await failureOf(resolveModelReference('tiny/stories-GGUF:Q5_K_S', options()));
    expect(errorCodeOf(error)).toBe('not_found');
    expect(error.message).toBe(
      'tiny/stories-GGUF:Q5_K_S: no GGUF file with quantization Q5_K_S; its GGUF files: ' +
        'F32 (extra/stories-F32.gguf), Q4_K_M (stories-Q4_K_M.gguf), Q8_0 (stories-Q8_0.gguf)',
    );
  });

  it('reports a missing repository as not_found', async () => {
    const error = await failureOf(resolveModelReference('tiny/no-such-repo', options()));
    expect(error.code).toBe('not_found');
    expect(error.message).toMatch(
      /^tiny\/no-such-repo: listing tiny\/no-such-repo at main: no such repository/,
    );
  });

  it('asks for HF_TOKEN on a gated repository and sends the token when given', async () => {
    const error = await failureOf(resolveModelReference('tiny/gated', options()));
    expect(error.problem).toBe('access-denied');
    expect(error.message).toMatch(/HTTP 401.*set HF_TOKEN/);
    const resolved = await resolveModelReference('tiny/gated', options({ token: 'hf_secret' }));
    expect(sha256(await readFile(resolved.path))).toBe(sha256(gguf));
  });

  it('downloads a plain URL into url/{sha256 of the URL}/ and asks nothing the second time', async () => {
    const url = `${hub.endpoint}/files/stories260K.gguf`;
    const progress: number[] = [];
    const first = await resolveModelReference(
      url,
      options({ onProgress: (p) => progress.push(p.receivedBytes) }),
    );
    const hashOfUrl = createHash('sha256').update(url).digest('hex');
    expect(first).toEqual({
      path: join(cacheDir, 'url', hashOfUrl, 'stories260K.gguf'),
      downloaded: true,
      source: url,
      kind: 'url',
      fromCacheAfterNetworkError: false,
    });
    expect(progress.at(-1)).toBe(gguf.length);
    expect(sha256(await readFile(first.path))).toBe(sha256(gguf));
    const requests = hub.seen.length;
    const second = await resolveModelReference(url, options());
    expect(second).toEqual({ ...first, downloaded: false });
    expect(hub.seen.length).toBe(requests);
  });

  it('resumes a download that broke off with a Range request, and the result verifies', async () => {
    hub.faults.set(sha256(gguf), { dropAfter: 3000 });
    const error = await failureOf(resolveModelReference('tiny/stories-GGUF', options()));
    expect(error.problem).toBe('network');
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(/broke off at byte \d+ of \d+.*run again to resume/);
    const partial = join(
      cacheDir,
      'hub',
      'models--tiny--stories-GGUF',
      'blobs',
      `${sha256(gguf)}.incomplete`,
    );
    const kept = (await readFile(partial)).length;
    expect(kept).toBeGreaterThan(0);

    const progress: number[] = [];
    const resolved = await resolveModelReference(
      'tiny/stories-GGUF',
      options({ onProgress: (p) => progress.push(p.receivedBytes) }),
    );
    // The hub's resolve answer redirects; the Range travels on to the CDN, which answers it.
    const ranged = hub.seen.filter((seen) => seen.range !== undefined);
    expect(ranged.map((seen) => `${seen.path} ${seen.range}`)).toEqual([
      `/tiny/stories-GGUF/resolve/main/stories-Q4_K_M.gguf bytes=${kept}-`,
      `/blob/${sha256(gguf)} bytes=${kept}-`,
    ]);
    expect(progress[0]).toBe(kept);
    expect(sha256(await readFile(resolved.path))).toBe(sha256(gguf));
    expect(existsSync(partial)).toBe(false);
  });

  it('stops at an abort, keeping the partial file for the next call to resume', async () => {
    const controller = new AbortController();
    const reason = new Error('stopped by the caller');
    const stopped = await resolveModelReference(
      'tiny/stories-GGUF',
      options({
        signal: controller.signal,
        onProgress: (p) => {
          if (p.receivedBytes > 0) controller.abort(reason);
        },
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(stopped).toBe(reason);
    const partial = join(
      cacheDir,
      'hub',
      'models--tiny--stories-GGUF',
      'blobs',
      `${sha256(gguf)}.incomplete`,
    );
    expect(existsSync(partial)).toBe(true);
    const resolved = await resolveModelReference('tiny/stories-GGUF', options());
    expect(sha256(await readFile(resolved.path))).toBe(sha256(gguf));
  });

  it('refuses a corrupted download with a typed error naming both hashes and keeps nothing of it', async () => {
    hub.faults.set(sha256(gguf), { corrupt: true });
    const error = await failureOf(resolveModelReference('tiny/stories-GGUF', options()));
    expect(error.problem).toBe('verification');
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(
      new RegExp(
        `stories-Q4_K_M\\.gguf arrived corrupted \\(SHA-256 [0-9a-f]{64}, expected ${sha256(gguf)}\\)`,
      ),
    );
    const repoDir = join(cacheDir, 'hub', 'models--tiny--stories-GGUF');
    expect(await readdir(join(repoDir, 'blobs'))).toEqual([]);
    expect(existsSync(join(repoDir, 'snapshots'))).toBe(false);
    expect(existsSync(join(repoDir, 'refs'))).toBe(false);
  });

  it('loads a cached reference again with one listing request and no download', async () => {
    const first = await resolveModelReference('tiny/stories-GGUF:Q8_0', options());
    hub.seen.length = 0;
    const second = await resolveModelReference('tiny/stories-GGUF:Q8_0', options());
    expect(second).toEqual({ ...first, downloaded: false });
    expect(hub.seen.map((seen) => seen.path)).toEqual(['/api/models/tiny/stories-GGUF/tree/main']);
  });

  it('asks the server nothing for a cached reference pinned to a commit', async () => {
    const first = await resolveModelReference(`tiny/stories-GGUF@${commit}`, options());
    expect(first.path).toBe(
      join(cacheDir, 'hub', 'models--tiny--stories-GGUF', 'snapshots', commit, 'stories-Q4_K_M.gguf'),
    );
    hub.seen.length = 0;
    expect(await resolveModelReference(`tiny/stories-GGUF@${commit}`, options())).toEqual({
      ...first,
      downloaded: false,
    });
    expect(hub.seen).toEqual([]);
  });

  it('downloads a Hugging Face folder: config, tokenizer and weights, not the README or duplicate weights', async () => {
    const resolved = await resolveModelReference('tiny/folder', options());
    const snapshot = join(cacheDir, 'hub', 'models--tiny--folder', 'snapshots', 'f01de2'.padEnd(40, '1'));
    expect(resolved).toMatchObject({
      path: snapshot,
      tokenizerPath: join(snapshot, 'tokenizer.json'),
      downloaded: true,
    });
    expect((await readdir(snapshot)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    for (const name of ['config.json', 'model.safetensors', 'tokenizer.json'] as const) {
      expect(await readFile(join(snapshot, name))).toEqual(folderFiles[name]);
    }
  });

  it('downloads the shards a model.safetensors.index.json names', async () => {
    const shard = (seed: number): Buffer =>
      Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * seed + 11) & 0xff));
    const files = new Map([
      ['config.json', folderFiles['config.json']],
      ['tokenizer.model', Buffer.from('sentencepiece model bytes for the test')],
      [
        'model.safetensors.index.json',
        Buffer.from(
          JSON.stringify({
            metadata: { total_size: 3000 },
            weight_map: {
              'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
              'model.norm.weight': 'model-00002-of-00002.safetensors',
              'lm_head.weight': 'model-00002-of-00002.safetensors',
            },
          }),
        ),
      ],
      ['model-00001-of-00002.safetensors', shard(13)],
      ['model-00002-of-00002.safetensors', shard(29)],
    ]);
    hub.repos.set('tiny/sharded', { commit: '5ba2d'.padEnd(40, '3'), files });
    const resolved = await resolveModelReference('tiny/sharded', options());
    expect(resolved.tokenizerPath).toBe(join(resolved.path, 'tokenizer.model'));
    expect((await readdir(resolved.path)).sort()).toEqual([...files.keys()].sort());
    for (const [name, bytes] of files) expect(await readFile(join(resolved.path, name)), name).toEqual(bytes);
    hub.seen.length = 0;
    expect(await resolveModelReference('tiny/sharded', options({ offline: true }))).toEqual({
      ...resolved,
      downloaded: false,
    });
  });

  it('files unchanged blobs under the new commit when the revision moved, asking for it with one HEAD', async () => {
    const files = new Map([
      ['README.md', Buffer.from('first version\n')],
      ['m-Q4_K_M.gguf', gguf],
    ]);
    hub.repos.set('tiny/moving', { commit: '01d'.padEnd(40, '4'), files });
    const before = await resolveModelReference('tiny/moving', options());
    hub.repos.set('tiny/moving', {
      commit: '0e1'.padEnd(40, '5'),
      files: new Map([...files, ['README.md', Buffer.from('second version\n')]]),
    });
    hub.seen.length = 0;
    const after = await resolveModelReference('tiny/moving', options());
    expect(after.path).toBe(before.path.replace('01d'.padEnd(40, '4'), '0e1'.padEnd(40, '5')));
    expect(after.downloaded).toBe(false);
    expect(hub.seen.map((seen) => `${seen.method} ${seen.path}`)).toEqual([
      'GET /api/models/tiny/moving/tree/main',
      'HEAD /tiny/moving/resolve/main/m-Q4_K_M.gguf',
    ]);
    const refs = join(cacheDir, 'hub', 'models--tiny--moving', 'refs', 'main');
    expect(await readFile(refs, 'utf8')).toBe('0e1'.padEnd(40, '5'));
  });

  it('refuses a listing whose paths would climb out of the cache', async () => {
    hub.repos.set('tiny/evil', { commit: 'e'.repeat(40), files: new Map([['../../../escape-Q4_K_M.gguf', gguf]]) });
    const error = await failureOf(resolveModelReference('tiny/evil', options()));
    expect(error.problem).toBe('http');
    expect(error.message).toMatch(/not a hub tree listing/);
    expect(hub.resolveRequests()).toEqual([]);
  });

  describe('without the network', () => {
    it('resolves a cached reference offline to the same path, sending no request', async () => {
      const online = await resolveModelReference('tiny/stories-GGUF', options());
      const folder = await resolveModelReference('tiny/folder', options());
      hub.seen.length = 0;
      const offline = await resolveModelReference('tiny/stories-GGUF', options({ offline: true }));
      expect(offline).toEqual({ ...online, downloaded: false });
      expect((await resolveModelReference('tiny/stories-GGUF:q4_k_m', options({ offline: true }))).path).toBe(
        online.path,
      );
      expect(await resolveModelReference('tiny/folder', options({ offline: true }))).toEqual({
        ...folder,
        downloaded: false,
      });
      expect(hub.seen).toEqual([]);
    });

    it('says which reference is not cached when offline', async () => {
      await resolveModelReference('tiny/stories-GGUF', options());
      hub.seen.length = 0;
      const error = await failureOf(
        resolveModelReference('tiny/stories-GGUF:Q8_0', options({ offline: true })),
      );
      expect(error.problem).toBe('not-cached');
      expect(error.code).toBe('unavailable');
      expect(error.message).toMatch(
        /^tiny\/stories-GGUF:Q8_0: not in the model cache .* unset HF_HUB_OFFLINE/,
      );
      const url = await failureOf(
        resolveModelReference(`${hub.endpoint}/files/stories260K.gguf`, options({ offline: true })),
      );
      expect(url.problem).toBe('not-cached');
      expect(hub.seen).toEqual([]);
    });

    it('takes offline mode from HF_HUB_OFFLINE', async () => {
      const saved = process.env['HF_HUB_OFFLINE'];
      process.env['HF_HUB_OFFLINE'] = '1';
      try {
        const error = await failureOf(
          resolveModelReference('tiny/stories-GGUF', { cacheDir, endpoint: hub.endpoint }),
        );
        expect(error.problem).toBe('not-cached');
        expect(hub.seen).toEqual([]);
      } finally {
        if (saved === undefined) delete process.env['HF_HUB_OFFLINE'];
        else process.env['HF_HUB_OFFLINE'] = saved;
      }
    });

    it('falls back to a complete cached copy with a warning when the server cannot be reached', async () => {
      const online = await resolveModelReference('tiny/stories-GGUF', options());
      // A closed port on the same host: the connection is refused.
      const gone = new FakeHub();
      await gone.start();
      const endpoint = gone.endpoint;
      await gone.stop();
      const warnings: string[] = [];
      const fallback = await resolveModelReference('tiny/stories-GGUF', {
        ...options({ onWarning: (message) => warnings.push(message) }),
        endpoint,
      });
      expect(fallback).toEqual({ ...online, downloaded: false, fromCacheAfterNetworkError: true });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /cannot reach .*ECONNREFUSED.*using the cached copy tiny\/stories-GGUF@c0ffee/,
      );
      const uncached = await failureOf(resolveModelReference('tiny/folder', { ...options(), endpoint }));
      expect(uncached.problem).toBe('network');
    });
  });

  it('returns an existing local path as it is, even one shaped like owner/repo', async () => {
    const resolved = await resolveModelReference(cacheDir, options());
    expect(resolved).toEqual({
      path: cacheDir,
      downloaded: false,
      source: cacheDir,
      kind: 'path',
      fromCacheAfterNetworkError: false,
    });
    const missing = await failureOf(resolveModelReference('./no/such/model.gguf', options()));
    expect(missing.code).toBe('not_found');
    expect(hub.seen).toEqual([]);
  });
});
