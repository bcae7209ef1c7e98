import { stat } from 'node:fs/promises';
import { describeModelFolder, describeModelSource, type ModelFileSummary } from '../describe-model.js';
import { directoryFolder } from './directory-folder.js';
import { fileSource } from './file-source.js';
import { fileSystemError } from './file-system-error.js';

/** A summary of a model file (GGUF, llama2.c) or a Hugging Face folder for `llm info`. */
export async function describeModelFile(path: string): Promise<ModelFileSummary> {
  const entry = await stat(path).catch((error: unknown) => {
    throw fileSystemError(error, path);
  });
  if (entry.isDirectory()) return describeModelFolder(directoryFolder(path));
  return describeModelSource(await fileSource(path));
}
