import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors, type SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
import type { LlamaConfig } from '../weight-source.js';
import { hfConfigFromLlama } from './hf-config.js';
import { UnsupportedModelError } from '../errors.js';
import { HfFormatError } from './hf-format-error.js';
import { hfNameOf } from './hf-tensor-names.js';
import { HF_CONFIG_FILE, HF_INDEX_FILE, HF_WEIGHTS_FILE } from './hf-weight-source.js';

export interface HfFolderContents {
  /** Must have ropeLayout 'halfSplit': Hugging Face checkpoints are not permuted. */
  readonly config: LlamaConfig;
  readonly torchDtype: 'float32' | 'float16' | 'bfloat16';
  /** Tensors by GGUF name, Q/K rows already in the half-split layout; written in this order. */
  readonly tensors: readonly SafetensorsTensorSource[];
}

/**
 * Writes a folder transformers can load: config.json and one model.safetensors, streamed one tensor
 * at a time. A stale shard index in the folder is removed so that it cannot shadow the new weights.
 */
export async function writeHfFolder(dir: string, contents: HfFolderContents): Promise<void> {
  if (contents.config.ropeLayout !== 'halfSplit') {
    throw new UnsupportedModelError(
      `Hugging Face checkpoints need Q/K in the halfSplit RoPE layout; un-permute them first`,
      dir,
    );
  }
  const configJson = hfConfigFromLlama(contents.config, contents.torchDtype, join(dir, HF_CONFIG_FILE));
  const tensors = contents.tensors.map((tensor) => {
    const hfName = hfNameOf(tensor.name);
    if (hfName === undefined) {
      throw new HfFormatError(
        dir,
        'unknown-tensor',
        `tensor ${tensor.name} has no Hugging Face Llama equivalent`,
      );
    }
    return { ...tensor, name: hfName };
  });
  await mkdir(dir, { recursive: true });
  await rm(join(dir, HF_INDEX_FILE), { force: true });
  // transformers refuses safetensors files whose metadata lacks a known format.
  await writeSafetensors(join(dir, HF_WEIGHTS_FILE), tensors, { format: 'pt' });
  await writeFile(join(dir, HF_CONFIG_FILE), `${JSON.stringify(configJson, null, 2)}\n`);
}
