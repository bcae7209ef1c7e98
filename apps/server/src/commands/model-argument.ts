import { resolveModelReference } from '@llm/formats/node';
import { downloadProgress } from '../progress.js';

/**
 * `--model` as a local path: a path is used as it is; an http(s) URL or a Hugging Face reference
 * (owner/repo[:QUANT], owner/repo/FILE) is downloaded into the model cache first, with progress and
 * warnings on stderr, or taken from the cache when it is there (offline too).
 */
export async function resolveModelArgument(model: string): Promise<{ path: string; tokenizerPath?: string }> {
  const resolved = await resolveModelReference(model, {
    onProgress: downloadProgress(),
    onWarning: (message) => process.stderr.write(`[llm] warning: ${message}\n`),
  });
  if (resolved.kind !== 'path') {
    process.stderr.write(`[llm] ${model}: ${resolved.downloaded ? 'downloaded' : 'cached'} at ${resolved.path}\n`);
  }
  return resolved.tokenizerPath === undefined ? { path: resolved.path } : { path: resolved.path, tokenizerPath: resolved.tokenizerPath };
}
