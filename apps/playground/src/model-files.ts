import type { ModelFiles } from './protocol.js';

/** A picked or dropped file and where it sat (a directory pick names `folder/config.json`). */
export interface PickedFile {
  readonly path: string;
  readonly blob: Blob;
}

export class ModelPickError extends Error {
  override readonly name = 'ModelPickError';
}

/**
 * Which model layout the picked files make: a GGUF; a llama2.c checkpoint with its tokenizer.bin
 * (the tokenizer is the .bin whose name says tok, else the smaller); or a Hugging Face folder
 * (config.json among the files).
 */
export function classifyModelFiles(files: readonly PickedFile[]): ModelFiles {
  if (files.length === 0) throw new ModelPickError('no file picked');
  const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
  if (files.some((f) => base(f.path) === 'config.json')) {
    const first = files[0]!.path;
    const name = first.includes('/') ? first.slice(0, first.indexOf('/')) : 'model folder';
    return { kind: 'folder', name, files: files.map((f) => ({ path: f.path, blob: f.blob })) };
  }
  const gguf = files.find((f) => f.path.toLowerCase().endsWith('.gguf'));
  if (gguf) return { kind: 'single', name: base(gguf.path), model: gguf.blob };
  const bins = files.filter((f) => f.path.toLowerCase().endsWith('.bin'));
  if (bins.length === 2) {
    const byName = bins.find((f) => /tok/i.test(base(f.path)));
    const tokenizer = byName ?? [...bins].sort((a, b) => a.blob.size - b.blob.size)[0]!;
    const model = bins.find((f) => f !== tokenizer)!;
    return { kind: 'llama2c', name: base(model.path), model: model.blob, tokenizer: tokenizer.blob };
  }
  if (bins.length === 1) {
    throw new ModelPickError(
      `${base(bins[0]!.path)} looks like a llama2.c checkpoint, which carries no tokenizer: pick it together with its tokenizer .bin`,
    );
  }
  throw new ModelPickError(
    `pick a .gguf file, a llama2.c checkpoint with its tokenizer .bin, or a Hugging Face folder (with config.json); got ${files.map((f) => base(f.path)).join(', ')}`,
  );
}

/** The files of a drop, directories walked (a dropped Hugging Face folder). */
export async function droppedFiles(items: DataTransferItemList): Promise<PickedFile[]> {
  const entries = Array.from(items).map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const out: PickedFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ path: prefix + file.name, blob: file });
      return;
    }
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  };
  for (const entry of entries) await walk(entry, '');
  return out;
}

export function pickedFromInput(list: FileList): PickedFile[] {
  return Array.from(list).map((f) => ({ path: f.webkitRelativePath || f.name, blob: f }));
}
