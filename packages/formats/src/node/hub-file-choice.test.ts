import { errorCodeOf } from '@llm/quant';
import { describe, expect, it } from 'vitest';
import { chooseHubFiles, matchesQuant, quantLabelOf, type HubFileEntry } from './hub-file-choice.js';

function entries(...paths: string[]): HubFileEntry[] {
  return paths.map((path, i) => ({ path, size: 100 + i, oid: `${i}`.padStart(40, 'a') }));
}

function failure(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('chooseHubFiles', () => {
  const repo = entries(
    'README.md',
    'm-Q8_0.gguf',
    'm-Q4_K_M.gguf',
    'm-IQ4_XS.gguf',
    'mmproj-m-Q4_K_M.gguf',
    'm-Q4_K.gguf',
  );

  it('defaults to Q4_K_M and never picks a multimodal projector', () => {
    expect(chooseHubFiles('o/r', repo, {})).toEqual({ kind: 'gguf', files: ['m-Q4_K_M.gguf'] });
  });

  it('falls back to the first GGUF by path when there is no Q4_K_M', () => {
    expect(chooseHubFiles('o/r', entries('z-Q8_0.gguf', 'mmproj-a.gguf', 'b-F16.gguf'), {})).toEqual({
      kind: 'gguf',
      files: ['b-F16.gguf'],
    });
  });

  it('matches a quantization case-insensitively and as a whole name part', () => {
    expect(chooseHubFiles('o/r', repo, { quant: 'q4_k' }).files).toEqual(['m-Q4_K.gguf']);
    expect(chooseHubFiles('o/r', repo, { quant: 'iq4_xs' }).files).toEqual(['m-IQ4_XS.gguf']);
    expect(matchesQuant('Q4_K_M/model-00001-of-00002.gguf', 'q4_k_m')).toBe(true);
    expect(matchesQuant('m-IQ4_0.gguf', 'Q4_0')).toBe(false);
  });

  it('brings every part of a split GGUF', () => {
    const split = entries(
      'Q8_0/m-Q8_0-00002-of-00002.gguf',
      'Q8_0/m-Q8_0-00001-of-00002.gguf',
      'x-Q4_0.gguf',
    );
    expect(chooseHubFiles('o/r', split, { quant: 'Q8_0' }).files).toEqual([
      'Q8_0/m-Q8_0-00001-of-00002.gguf',
      'Q8_0/m-Q8_0-00002-of-00002.gguf',
    ]);
  });

  it('reports an unknown quantization as not_found, listing the ones there are', () => {
    const error = failure(() => chooseHubFiles('o/r:Q5_K_S', repo, { quant: 'Q5_K_S' }));
    expect(errorCodeOf(error)).toBe('not_found');
    expect(error.message).toBe(
      'o/r:Q5_K_S: no GGUF file with quantization Q5_K_S; its GGUF files: IQ4_XS (m-IQ4_XS.gguf), ' +
        'Q4_K (m-Q4_K.gguf), Q4_K_M (m-Q4_K_M.gguf), Q8_0 (m-Q8_0.gguf)',
    );
  });

  it('gives a Hugging Face folder its config, tokenizer and weights, not its other files', () => {
    const folder = entries(
      'README.md',
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'model.safetensors',
      'consolidated.safetensors',
      'original/params.json',
    );
    expect(chooseHubFiles('o/r', folder, {})).toEqual({
      kind: 'folder',
      files: ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'],
    });
    const sharded = entries(
      'config.json',
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
    );
    expect(chooseHubFiles('o/r', sharded, {})).toEqual({
      kind: 'folder',
      files: ['config.json', 'model.safetensors.index.json'],
      index: 'model.safetensors.index.json',
    });
  });

  it('reports a repository with nothing to run as not_found, naming its files', () => {
    const error = failure(() => chooseHubFiles('o/r', entries('README.md', 'model.onnx'), {}));
    expect(errorCodeOf(error)).toBe('not_found');
    expect(error.message).toMatch(/neither GGUF files nor config.json.*README\.md, model\.onnx/);
  });

  it('names quantizations in common file name styles', () => {
    expect(quantLabelOf('Llama-3.2-1B-Instruct-Q4_K_M.gguf')).toBe('Q4_K_M');
    expect(quantLabelOf('tinyllama.q8_0.gguf')).toBe('Q8_0');
    expect(quantLabelOf('m-BF16-00001-of-00003.gguf')).toBe('BF16');
    expect(quantLabelOf('model.gguf')).toBeUndefined();
  });
});
