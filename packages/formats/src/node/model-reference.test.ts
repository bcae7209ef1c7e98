import { errorCodeOf } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { ModelDownloadError } from './model-download-error.js';
import { parseModelReference } from './model-reference.js';

describe('parseModelReference', () => {
  it('reads owner/repo with the main revision', () => {
    expect(parseModelReference('ggml-org/SmolLM3-3B-GGUF')).toEqual({
      kind: 'hub',
      repoId: 'ggml-org/SmolLM3-3B-GGUF',
      revision: 'main',
    });
  });

  it('reads a quantization after a colon and a revision after @', () => {
    expect(parseModelReference('owner/repo:q8_0')).toEqual({
      kind: 'hub',
      repoId: 'owner/repo',
      revision: 'main',
      quant: 'q8_0',
    });
    expect(parseModelReference('owner/repo@v1.0:Q4_K_M')).toEqual({
      kind: 'hub',
      repoId: 'owner/repo',
      revision: 'v1.0',
      quant: 'Q4_K_M',
    });
  });

  it('reads a file path inside the repository, nested folders included', () => {
    expect(parseModelReference('owner/repo/Q4_K_M/model-00001-of-00002.gguf')).toEqual({
      kind: 'hub',
      repoId: 'owner/repo',
      revision: 'main',
      file: 'Q4_K_M/model-00001-of-00002.gguf',
    });
  });

  it('keeps http and https URLs whole', () => {
    expect(parseModelReference('https://example.com/models/x.gguf?download=1')).toEqual({
      kind: 'url',
      url: 'https://example.com/models/x.gguf?download=1',
    });
  });

  it('takes path-like strings for missing paths, never for repositories', () => {
    for (const path of [
      './model.gguf',
      '../m',
      '/models/x.gguf',
      '~/x.gguf',
      'model.gguf',
      'models/x.gguf',
      'C:\\m\\x.gguf',
    ]) {
      expect(parseModelReference(path)).toEqual({ kind: 'missing-path', path });
    }
  });

  it('refuses other URL schemes and malformed references as invalid_argument', () => {
    for (const reference of [
      'ftp://example.com/x.gguf',
      'owner/repo:',
      'owner/repo/../x.gguf',
      'a/b/c//d.gguf',
      'owner/re po',
    ]) {
      const error = (() => {
        try {
          parseModelReference(reference);
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error, reference).toBeInstanceOf(ModelDownloadError);
      expect(errorCodeOf(error)).toBe('invalid_argument');
      expect((error as Error).message.startsWith(`${reference}: `)).toBe(true);
    }
  });
});
