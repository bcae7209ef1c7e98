// Models picked once stay in the browser's Cache Storage: each file is stored as a Response
// streamed from its Blob (never whole in JS memory) and read back as a disk-backed Blob.
import type { ModelFiles } from './protocol.js';

const CACHE_NAME = 'llm-playground-models';
const PREFIX = '/__models__/';

interface CachedFileEntry {
  readonly role: 'model' | 'tokenizer' | 'file';
  readonly path: string;
  readonly size: number;
}

export interface CachedModel {
  readonly name: string;
  readonly kind: 'single' | 'llama2c' | 'folder';
  readonly files: readonly CachedFileEntry[];
  readonly bytes: number;
}

function manifestUrl(name: string): string {
  return `${PREFIX}${encodeURIComponent(name)}/manifest.json`;
}

function fileUrl(name: string, path: string): string {
  return `${PREFIX}${encodeURIComponent(name)}/files/${encodeURIComponent(path)}`;
}

export function modelCacheAvailable(): boolean {
  return typeof caches !== 'undefined';
}

/** Stores the files of a picked model; `onProgress` gets bytes stored so far. */
export async function cacheModel(files: ModelFiles, onProgress: (done: number, total: number) => void): Promise<void> {
  if (files.kind === 'url') return;
  const cache = await caches.open(CACHE_NAME);
  const entries: { entry: CachedFileEntry; blob: Blob }[] =
    files.kind === 'single'
      ? [{ entry: { role: 'model', path: files.name, size: files.model.size }, blob: files.model }]
      : files.kind === 'llama2c'
        ? [
            { entry: { role: 'model', path: files.name, size: files.model.size }, blob: files.model },
            { entry: { role: 'tokenizer', path: 'tokenizer.bin', size: files.tokenizer.size }, blob: files.tokenizer },
          ]
        : files.files.map((f) => ({ entry: { role: 'file', path: f.path, size: f.blob.size }, blob: f.blob }));
  const total = entries.reduce((n, e) => n + e.blob.size, 0);
  let done = 0;
  for (const { entry, blob } of entries) {
    await cache.put(fileUrl(files.name, entry.path), new Response(blob, { headers: { 'content-length': String(blob.size) } }));
    done += blob.size;
    onProgress(done, total);
  }
  const manifest: CachedModel = { name: files.name, kind: files.kind, files: entries.map((e) => e.entry), bytes: total };
  await cache.put(manifestUrl(files.name), new Response(JSON.stringify(manifest), { headers: { 'content-type': 'application/json' } }));
}

export async function listCachedModels(): Promise<CachedModel[]> {
  if (!modelCacheAvailable()) return [];
  const cache = await caches.open(CACHE_NAME);
  const models: CachedModel[] = [];
  for (const request of await cache.keys()) {
    if (!request.url.endsWith('/manifest.json')) continue;
    const response = await cache.match(request);
    if (response) models.push((await response.json()) as CachedModel);
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}

/** The cached model's files as Blobs, ready for the worker. */
export async function cachedModelFiles(model: CachedModel): Promise<ModelFiles> {
  const cache = await caches.open(CACHE_NAME);
  const blobOf = async (path: string) => {
    const response = await cache.match(fileUrl(model.name, path));
    if (!response) throw new Error(`${model.name}: ${path} is missing from the browser cache; pick the model again`);
    return response.blob();
  };
  if (model.kind === 'single') return { kind: 'single', name: model.name, model: await blobOf(model.name) };
  if (model.kind === 'llama2c') {
    return { kind: 'llama2c', name: model.name, model: await blobOf(model.name), tokenizer: await blobOf('tokenizer.bin') };
  }
  const files = await Promise.all(model.files.map(async (f) => ({ path: f.path, blob: await blobOf(f.path) })));
  return { kind: 'folder', name: model.name, files };
}

export async function deleteCachedModel(model: CachedModel): Promise<void> {
  const cache = await caches.open(CACHE_NAME);
  for (const f of model.files) await cache.delete(fileUrl(model.name, f.path));
  await cache.delete(manifestUrl(model.name));
}
