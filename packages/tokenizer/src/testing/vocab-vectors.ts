import { readFileSync } from 'node:fs';

export interface VocabVector {
  readonly text: string;
  readonly ids: number[];
}

/**
 * llama.cpp's tests/test-tokenizer-0 reading of NAME.gguf.inp / NAME.gguf.out: inputs separated by
 * "\n__ggml_vocab_test__\n", one line of space-separated ids per input.
 */
export function readVocabVectors(inpPath: string, outPath: string): VocabVector[] {
  const raw = readFileSync(inpPath, 'utf8');
  const sep = '\n__ggml_vocab_test__\n';
  const inputs: string[] = [];
  for (let pos = 0; pos < raw.length;) {
    const next = raw.indexOf(sep, pos);
    if (next === -1) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  const lines = readFileSync(outPath, 'utf8').split('\n');
  return inputs.map((text, i) => {
    const line = (lines[i] ?? '').trim();
    return { text, ids: line === '' ? [] : line.split(' ').map(Number) };
  });
}

/** The vocabularies of shared/models/vocab that come with test vectors (SentencePiece, BPE, WordPiece). */
export const VOCABS_WITH_VECTORS = [
  'llama-spm',
  'phi-3',
  'gpt-2',
  'deepseek-coder',
  'mpt',
  'refact',
  'starcoder',
  'bert-bge',
] as const;
