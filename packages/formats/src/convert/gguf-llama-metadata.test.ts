import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../weight-source.js';
import { llama2cTokenizerMetadata, llama3RopeFactors, llamaGgufMetadata } from './gguf-llama-metadata.js';

const llama31: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 128256,
  dim: 4096,
  hiddenDim: 14336,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  contextLength: 131072,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeLayout: 'adjacent',
  ropeScaling: { type: 'llama3', factor: 8, originalContextLength: 8192 },
  tiedEmbeddings: false,
  qkvBias: false,
};

describe('llamaGgufMetadata', () => {
  it('writes the llama.* keys llama.cpp reads, and key/value lengths only when head_dim is not dim / heads', () => {
    const metadata = llamaGgufMetadata(llama31, 'llama', 'Llama 3.1', 'f16');
    expect(Object.fromEntries([...metadata].map(([k, v]) => [k, v.value]))).toEqual({
      'general.architecture': 'llama',
      'general.name': 'Llama 3.1',
      'general.file_type': 1,
      'llama.vocab_size': 128256,
      'llama.context_length': 131072,
      'llama.embedding_length': 4096,
      'llama.block_count': 32,
      'llama.feed_forward_length': 14336,
      'llama.rope.dimension_count': 128,
      'llama.rope.freq_base': 500000,
      'llama.attention.head_count': 32,
      'llama.attention.head_count_kv': 8,
      'llama.attention.layer_norm_rms_epsilon': 1e-5,
    });
    const wideHeads = llamaGgufMetadata({ ...llama31, headDim: 256 }, 'llama', 'x', 'f32');
    expect(wideHeads.get('llama.attention.key_length')).toEqual({ type: 'u32', value: 256 });
    expect(wideHeads.get('llama.attention.value_length')).toEqual({ type: 'u32', value: 256 });
  });

  it('writes rope.scaling.* for linear and yarn under the architecture prefix', () => {
    const yarn = llamaGgufMetadata(
      {
        ...llama31,
        architecture: 'qwen2',
        ropeScaling: { type: 'yarn', factor: 4, originalContextLength: 32768 },
      },
      'qwen2',
      'q',
      'f32',
    );
    expect(yarn.get('qwen2.rope.scaling.type')).toEqual({ type: 'string', value: 'yarn' });
    expect(yarn.get('qwen2.rope.scaling.factor')).toEqual({ type: 'f32', value: 4 });
    expect(yarn.get('qwen2.rope.scaling.original_context_length')).toEqual({ type: 'u32', value: 32768 });
    expect(llamaGgufMetadata(llama31, 'llama', 'x', 'f32').has('llama.rope.scaling.type')).toBe(false);
  });
});

describe('llama3RopeFactors', () => {
  it('matches convert_hf_to_gguf.py for Llama 3.1 (theta 500000, head 128, factor 8, original 8192)', () => {
    const factors = llama3RopeFactors(llama31);
    expect(factors.length).toBe(64);
    expect(factors[0]).toBe(1);
    expect(factors[63]).toBe(8);
    // Values from the reference formula evaluated in double precision by an independent script.
    const band = [
      1, 1.207483871283662, 1.5534146285049255, 2.0263132059050557, 2.6945296878947333, 3.684252527745718,
      5.257326588708467, 8,
    ];
    band.forEach((value, i) => expect(factors[28 + i]).toBeCloseTo(value, 5));
  });
});

describe('llama2cTokenizerMetadata', () => {
  // sscanf("<0x%02hhX>") there also takes one hex digit, so <0x1> is a byte token too.
  it('types and renames pieces as llama.cpp convert-llama2c-to-ggml does', () => {
    const metadata = llama2cTokenizerMetadata({
      maxTokenLength: 6,
      tokens: ['<unk>', '\n<s>\n', '\n</s>\n', '<0x0A>', '', ' the', 'a b', '<0x1>'],
      tokenBytes: [],
      scores: Float32Array.from([0, 0, 0, 0, 0, -1, -2, -3]),
    });
    expect(metadata.get('tokenizer.ggml.tokens')?.value).toEqual([
      '<unk>',
      '<s>',
      '</s>',
      '<0x0A>',
      '',
      '\u2581the',
      'a\u2581b',
      '<0x1>',
    ]);
    expect([...(metadata.get('tokenizer.ggml.token_type')!.value as Int32Array)]).toEqual([
      2, 3, 3, 6, 3, 1, 1, 6,
    ]);
    expect([...(metadata.get('tokenizer.ggml.scores')!.value as Float32Array)]).toEqual([
      0, 0, 0, 0, 0, -1, -2, -3,
    ]);
    expect(metadata.get('tokenizer.ggml.model')).toEqual({ type: 'string', value: 'llama' });
    expect(metadata.get('tokenizer.ggml.bos_token_id')).toEqual({ type: 'u32', value: 1 });
    expect(metadata.get('tokenizer.ggml.eos_token_id')).toEqual({ type: 'u32', value: 2 });
    expect(metadata.get('tokenizer.ggml.unknown_token_id')).toEqual({ type: 'u32', value: 0 });
  });
});
