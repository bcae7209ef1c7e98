import { describe, expect, it } from 'vitest';
import { classifyModelFiles, ModelPickError } from './model-files.js';

const blob = (bytes: number) => new Blob([new Uint8Array(bytes).fill(7)]);

describe('classifyModelFiles', () => {
  it('takes a .gguf alone', () => {
    const files = classifyModelFiles([{ path: 'stories260K.gguf', blob: blob(10) }]);
    expect(files).toMatchObject({ kind: 'single', name: 'stories260K.gguf' });
  });

  it('pairs a llama2.c checkpoint with its tokenizer, by name or else by size', () => {
    const byName = classifyModelFiles([
      { path: 'tok512.bin', blob: blob(900) },
      { path: 'stories260K.bin', blob: blob(500) },
    ]);
    expect(byName).toMatchObject({ kind: 'llama2c', name: 'stories260K.bin' });
    const bySize = classifyModelFiles([
      { path: 'model.bin', blob: blob(900) },
      { path: 'vocab.bin', blob: blob(100) },
    ]);
    expect(bySize).toMatchObject({ kind: 'llama2c', name: 'model.bin' });
  });

  it('reads a picked folder with config.json as a Hugging Face folder named after it', () => {
    const files = classifyModelFiles([
      { path: 'tiny/config.json', blob: blob(5) },
      { path: 'tiny/model.safetensors', blob: blob(50) },
      { path: 'tiny/tokenizer.json', blob: blob(5) },
    ]);
    expect(files.kind).toBe('folder');
    expect(files.name).toBe('tiny');
  });

  it('asks for the tokenizer of a lone llama2.c checkpoint, and names what it cannot use', () => {
    expect(() => classifyModelFiles([{ path: 'stories260K.bin', blob: blob(5) }])).toThrow(/tokenizer \.bin/);
    expect(() => classifyModelFiles([{ path: 'notes.txt', blob: blob(5) }])).toThrow(ModelPickError);
    expect(() => classifyModelFiles([])).toThrow(/no file/);
  });
});
