import type { ModelFolderSink } from '../io/model-folder.js';
import { writeSafetensorsTo, type SafetensorsTensorSource } from '../safetensors/safetensors-writer.js';
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
  /** Files written beside the weights as given, e.g. tokenizer.model and tokenizer_config.json. */
  readonly extraFiles?: ReadonlyMap<string, Uint8Array>;
}

/**
 * Writes a folder transformers can load: config.json and one model.safetensors, streamed one tensor
 * at a time. A stale shard index in the folder is removed so that it cannot shadow the new weights.
 */
export async function writeHfFolderTo(folder: ModelFolderSink, contents: HfFolderContents): Promise<void> {
  const dir = folder.name;
  if (contents.config.ropeLayout !== 'halfSplit') {
    throw new UnsupportedModelError(
      `Hugging Face checkpoints need Q/K in the halfSplit RoPE layout; un-permute them first`,
      dir,
    );
  }
  const configJson = hfConfigFromLlama(contents.config, contents.torchDtype, `${dir}/${HF_CONFIG_FILE}`);
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
  await folder.remove(HF_INDEX_FILE);
  // transformers refuses safetensors files whose metadata lacks a known format.
  await writeSafetensorsTo(await folder.create(HF_WEIGHTS_FILE), tensors, { format: 'pt' });
  const files = new Map(contents.extraFiles);
  files.set(HF_CONFIG_FILE, new TextEncoder().encode(`${JSON.stringify(configJson, null, 2)}\n`));
  for (const [fileName, bytes] of files) {
    const sink = await folder.create(fileName);
    try {
      await sink.write(bytes);
      await sink.commit();
    } catch (error) {
      await sink.abort();
      throw error;
    }
  }
}
