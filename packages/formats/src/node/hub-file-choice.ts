import { ModelDownloadError } from './model-download-error.js';

/** One file of a repository listing (`/api/models/{repo}/tree/{revision}?recursive=true`). */
export interface HubFileEntry {
  readonly path: string;
  readonly size: number;
  /** Git blob id (SHA-1 of `blob {size}\0` + content). */
  readonly oid: string;
  /** Present for files stored with Git LFS: `oid` is the SHA-256 of the content. */
  readonly lfs?: { readonly oid: string; readonly size: number };
}

/** The files a reference needs: the model file first (a GGUF, or the folder's config.json). */
export type HubChoice =
  | { readonly kind: 'gguf'; readonly files: readonly string[] }
  | {
      readonly kind: 'folder';
      readonly files: readonly string[];
      /** `model.safetensors.index.json` when the weights are sharded: its `weight_map` names the rest. */
      readonly index?: string;
    };

// llama.cpp's -hf (and the hub's own GGUF manifest) default: the usual size/quality compromise.
const defaultQuant = 'Q4_K_M';
// Files a Hugging Face folder is read with: config, tokenizer and generation settings.
const folderFiles = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'tokenizer.model',
  'special_tokens_map.json',
  'chat_template.jinja',
];
const shardPattern = /-(\d{5})-of-(\d{5})\.gguf$/i;

/** GGUF files of a listing without multimodal projectors (`mmproj`), sorted by path. */
export function ggufFilesOf(entries: readonly HubFileEntry[]): string[] {
  return entries
    .map((entry) => entry.path)
    .filter(
      (path) => path.toLowerCase().endsWith('.gguf') && !baseName(path).toLowerCase().includes('mmproj'),
    )
    .sort(comparePaths);
}

/** The quantization label in a GGUF file name (`Llama-3-Q4_K_M.gguf` → `Q4_K_M`), if it has one. */
export function quantLabelOf(path: string): string | undefined {
  const stem = path.replace(shardPattern, '').replace(/\.gguf$/i, '');
  const tokens = stem.split(/[-./]/).reverse();
  return tokens.find((token) => /^(?:I?Q\d|TQ\d|MXFP4|B?F16$|F32$)/i.test(token))?.toUpperCase();
}

/** Whether a path holds `quant` as a whole name part: `Q4_K` does not match `Q4_K_M`, nor `Q4_0` `IQ4_0`. */
export function matchesQuant(path: string, quant: string): boolean {
  const escaped = quant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|[^A-Za-z0-9])${escaped}(?![A-Za-z0-9_])`, 'i').test(path);
}

/**
 * Picks what to download for `owner/repo`, `owner/repo:QUANT` or `owner/repo/file`, the way
 * llama.cpp's `-hf` does for GGUF repositories: the named quantization, else Q4_K_M, else the
 * first GGUF file by path; a split GGUF (`-00001-of-00003`) brings its other parts. A repository
 * without GGUF files but with config.json and safetensors weights gives a Hugging Face folder.
 */
export function chooseHubFiles(
  reference: string,
  entries: readonly HubFileEntry[],
  want: { readonly file?: string; readonly quant?: string },
): HubChoice {
  const ggufs = ggufFilesOf(entries);
  if (want.file !== undefined) {
    const file = want.file;
    if (!entries.some((entry) => entry.path === file)) {
      throw new ModelDownloadError(
        reference,
        'not-found',
        `the repository has no file ${file}; ${listing(entries, ggufs)}`,
      );
    }
    return { kind: 'gguf', files: withShards(file, entries) };
  }
  if (want.quant !== undefined) {
    const quant = want.quant;
    const match = ggufs.find((path) => matchesQuant(path, quant));
    if (match === undefined) {
      throw new ModelDownloadError(
        reference,
        'not-found',
        ggufs.length === 0
          ? `the repository has no GGUF files to pick quantization ${quant} from; ${listing(entries, ggufs)}`
          : `no GGUF file with quantization ${quant}; ${listing(entries, ggufs)}`,
      );
    }
    return { kind: 'gguf', files: withShards(match, entries) };
  }
  const chosen = ggufs.find((path) => matchesQuant(path, defaultQuant)) ?? ggufs[0];
  if (chosen !== undefined) return { kind: 'gguf', files: withShards(chosen, entries) };

  const present = new Set(entries.map((entry) => entry.path));
  const weights = entries
    .map((entry) => entry.path)
    .filter((path) => !path.includes('/') && path.endsWith('.safetensors'))
    .sort(comparePaths);
  if (!present.has('config.json') || weights.length === 0) {
    throw new ModelDownloadError(
      reference,
      'not-found',
      `the repository has neither GGUF files nor config.json with .safetensors weights; ${listing(entries, ggufs)}`,
    );
  }
  const files = folderFiles.filter((name) => present.has(name));
  const index = 'model.safetensors.index.json';
  if (present.has(index)) return { kind: 'folder', files: [...files, index], index };
  // A lone model.safetensors is what transformers reads; other root files (consolidated.safetensors,
  // adapters) are duplicates in another layout.
  return {
    kind: 'folder',
    files: [...files, ...(present.has('model.safetensors') ? ['model.safetensors'] : weights)],
  };
}

function withShards(path: string, entries: readonly HubFileEntry[]): string[] {
  const shard = shardPattern.exec(path);
  if (!shard || Number(shard[1]) !== 1) return [path];
  const prefix = path.slice(0, shard.index);
  const total = Number(shard[2]);
  const parts = [path];
  for (let part = 2; part <= total; part++) {
    const name = `${prefix}-${String(part).padStart(5, '0')}-of-${shard[2]}.gguf`;
    const entry = entries.find((candidate) => candidate.path.toLowerCase() === name.toLowerCase());
    if (entry) parts.push(entry.path);
  }
  return parts;
}

function listing(entries: readonly HubFileEntry[], ggufs: readonly string[]): string {
  if (ggufs.length > 0) {
    const described = ggufs.map((path) => {
      const quant = quantLabelOf(path);
      return quant === undefined ? path : `${quant} (${path})`;
    });
    return `its GGUF files: ${described.join(', ')}`;
  }
  const paths = entries.map((entry) => entry.path).sort(comparePaths);
  // A listing of thousands of files helps nobody; the first ones say what kind of repository it is.
  const shown = paths.slice(0, 20);
  return paths.length === 0
    ? 'it holds no files'
    : `its files: ${shown.join(', ')}${paths.length > shown.length ? `, and ${paths.length - shown.length} more` : ''}`;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Shard file names of a `model.safetensors.index.json` (`weight_map` values), sorted, without duplicates. */
export function shardsOfIndex(weightMap: Readonly<Record<string, string>>): string[] {
  return [...new Set(Object.values(weightMap))].sort(comparePaths);
}
