import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PeerInputError } from './errors.js';

/**
 * What a saved KV cache belongs to, in `<state file>.json` beside llama.cpp's sequence state:
 * llama.cpp loads a state of another model's shape without checking and may crash the process,
 * so a cache only loads into a peer of a GGUF file of the same name and size.
 */
interface CacheDescription {
  model: string;
  modelBytes: number;
  tokens: number;
}

export function writeCacheFile(statePath: string, ggufPath: string, tokens: number): void {
  const description: CacheDescription = {
    model: basename(ggufPath),
    modelBytes: statSync(ggufPath).size,
    tokens,
  };
  writeFileSync(`${statePath}.json`, `${JSON.stringify(description)}\n`);
}

/** The description of a cache saved for `ggufPath`; throws PeerInputError for any other. */
export function readCacheFile(statePath: string, ggufPath: string): CacheDescription {
  const descriptionPath = `${statePath}.json`;
  if (!existsSync(statePath) || !existsSync(descriptionPath)) {
    throw new PeerInputError(`no saved cache at ${statePath}; write one with saveCache()`);
  }
  let description: Partial<CacheDescription>;
  try {
    description = JSON.parse(readFileSync(descriptionPath, 'utf8')) as Partial<CacheDescription>;
  } catch (error) {
    throw new PeerInputError(`${descriptionPath} is not a saved cache's description`, { cause: error });
  }
  const model = basename(ggufPath);
  const modelBytes = statSync(ggufPath).size;
  if (
    description.model !== model ||
    description.modelBytes !== modelBytes ||
    !Number.isInteger(description.tokens)
  ) {
    throw new PeerInputError(
      `the cache at ${statePath} was saved for ${description.model} (${description.modelBytes} bytes), ` +
        `not for ${model} (${modelBytes} bytes); a cache loads only into a peer of the same model`,
    );
  }
  return { model, modelBytes, tokens: description.tokens! };
}
