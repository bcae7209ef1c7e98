/**
 * Opens stories260K from the File objects a user picked (GGUF, and llama2.c checkpoint plus
 * tok512.bin) through @llm/formats' Blob sources and builds @llm/tokenizer's tokenizers from them,
 * entirely in the page. Bundled for the page by browser-tokenize.test.ts.
 */
import {
  blobSource,
  openGgufSource,
  openLlama2cCheckpointSource,
  readLlama2cTokenizerSource,
} from '@llm/formats';
import { tokenizerFromGguf, tokenizerFromLlama2c } from '@llm/tokenizer';

export interface BrowserTokenizeReport {
  readonly ggufIds: number[][];
  readonly llama2cIds: number[][];
  readonly vocabSize: number;
  readonly bytesRead: number;
  readonly bytesInFiles: number;
}

declare global {
  interface Window {
    tokenizeFromFiles(prompts: readonly string[]): Promise<BrowserTokenizeReport>;
  }
}

window.tokenizeFromFiles = async (prompts) => {
  const input = document.querySelector<HTMLInputElement>('input[type=file]');
  const files = Array.from(input?.files ?? []);
  const file = (name: string): File => {
    const found = files.find((f) => f.name === name);
    if (!found) throw new Error(`no ${name} among the picked files`);
    return found;
  };
  // Counts what the readers ask for, to show that nothing reads a file whole.
  let bytesRead = 0;
  const counted = (f: File) => {
    const source = blobSource(f);
    return {
      ...source,
      read: async (position: number, length: number) => {
        const bytes = await source.read(position, length);
        bytesRead += bytes.byteLength;
        return bytes;
      },
    };
  };

  const gguf = await openGgufSource(counted(file('stories260K.gguf')));
  const fromGguf = tokenizerFromGguf(gguf.metadata);
  await gguf.close();

  const checkpoint = await openLlama2cCheckpointSource(counted(file('stories260K.bin')));
  const vocabSize = checkpoint.config.vocabSize;
  await checkpoint.close();
  const fromLlama2c = tokenizerFromLlama2c(await readLlama2cTokenizerSource(counted(file('tok512.bin')), { vocabSize }));

  const encode = (t: typeof fromGguf) => prompts.map((p) => Array.from(t.encode(p, { addSpecial: true })));
  return {
    ggufIds: encode(fromGguf),
    llama2cIds: encode(fromLlama2c),
    vocabSize,
    bytesRead,
    bytesInFiles: files.reduce((n, f) => n + f.size, 0),
  };
};
