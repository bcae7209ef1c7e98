import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import * as z from 'zod/mini';
import { englishMessages } from '../zod-messages.js';
import type { HubFileEntry } from './hub-file-choice.js';

/**
 * Where downloaded models live: `$LLM_CACHE_DIR`, else `$XDG_CACHE_HOME/llm`, else `~/.cache/llm`.
 */
export function defaultModelCacheDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const explicit = env['LLM_CACHE_DIR'];
  if (explicit) return explicit;
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg ? xdg : join(homedir(), '.cache'), 'llm');
}

/**
 * One repository's folder in huggingface_hub's cache layout, so that tools which know that layout
 * (huggingface_hub's scan-cache, llama.cpp pointed at it) read the same files:
 * `blobs/{sha256 or git oid}`, `snapshots/{commit}/{path}` (a relative symlink to the blob, or a
 * copy where symlinks are refused), `refs/{revision}` holding the commit. Beside them,
 * `trees/{commit}.json` keeps the file listing the files were chosen from, so that an offline run
 * makes the same choice (`owner/repo` → the same quantization) as an online one did.
 */
export class HubRepoCache {
  readonly dir: string;

  constructor(cacheDir: string, repoId: string) {
    this.dir = join(cacheDir, 'hub', `models--${repoId.replace('/', '--')}`);
  }

  blobPath(blobName: string): string {
    return join(this.dir, 'blobs', blobName);
  }

  snapshotDir(commit: string): string {
    return join(this.dir, 'snapshots', commit);
  }

  snapshotPath(commit: string, path: string): string {
    return join(this.dir, 'snapshots', commit, ...path.split('/'));
  }

  async readRef(revision: string): Promise<string | undefined> {
    const text = await readFile(join(this.dir, 'refs', revision), 'utf8').catch(() => undefined);
    const commit = text?.trim();
    return commit ? commit : undefined;
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    await writeAtomically(join(this.dir, 'refs', revision), commit);
  }

  /** The listing recorded for a commit; undefined when none was recorded or it does not parse. */
  async readListing(commit: string): Promise<HubFileEntry[] | undefined> {
    const text = await readFile(join(this.dir, 'trees', `${commit}.json`), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const parsed = listingSchema.safeParse(JSON.parse(text), { error: englishMessages });
      return parsed.success ? parsed.data.map(entryOf) : undefined;
    } catch {
      return undefined;
    }
  }

  async writeListing(commit: string, entries: readonly HubFileEntry[]): Promise<void> {
    await writeAtomically(join(this.dir, 'trees', `${commit}.json`), JSON.stringify(entries));
  }

  /** Files under a snapshot, as a listing without hashes: for snapshots another tool downloaded. */
  async snapshotListing(commit: string): Promise<HubFileEntry[] | undefined> {
    const root = this.snapshotDir(commit);
    const found = await readdir(root, { recursive: true }).catch(() => undefined);
    if (found === undefined) return undefined;
    const entries: HubFileEntry[] = [];
    for (const name of found) {
      const info = await stat(join(root, name)).catch(() => undefined);
      if (info?.isFile()) entries.push({ path: name.split(/[\\/]/).join('/'), size: info.size, oid: '' });
    }
    return entries;
  }

  /** Makes `snapshots/{commit}/{path}` name the blob: a relative symlink, or a copy where links fail. */
  async linkSnapshot(commit: string, path: string, blobName: string): Promise<string> {
    const target = this.snapshotPath(commit, path);
    const blob = this.blobPath(blobName);
    if (await isFile(target)) return target;
    await mkdir(dirname(target), { recursive: true });
    await rm(target, { force: true });
    try {
      await symlink(relative(dirname(target), blob), target);
    } catch {
      // Windows without developer mode refuses symlinks; huggingface_hub copies then too.
      await copyFile(blob, `${target}.incomplete`);
      await rename(`${target}.incomplete`, target);
    }
    return target;
  }
}

/** `url/{sha256 of the URL}/`: the folder a plain URL's file is downloaded into. */
export function urlCacheDir(cacheDir: string, url: string): string {
  return join(cacheDir, 'url', createHash('sha256').update(url).digest('hex'));
}

/** Whether a path is a file (following symlinks; a dangling link is not). */
export async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // A reader never sees half a ref; the pid keeps two processes' temporaries apart.
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

const listingSchema = z.array(
  z.object({
    path: z.string(),
    size: z.number(),
    oid: z.string(),
    lfs: z.optional(z.object({ oid: z.string(), size: z.number() })),
  }),
);

function entryOf(entry: z.infer<typeof listingSchema>[number]): HubFileEntry {
  return {
    path: entry.path,
    size: entry.size,
    oid: entry.oid,
    ...(entry.lfs ? { lfs: { oid: entry.lfs.oid, size: entry.lfs.size } } : {}),
  };
}
