import type { ByteSink } from './byte-sink.js';
import { blobSource } from './blob-source.js';
import type { ByteSource } from './byte-source.js';

/** The files of a Hugging Face model folder, opened by name (config.json, model.safetensors, ...). */
export interface ModelFolder {
  readonly name: string;
  /** The named file, or undefined when the folder has none. */
  open(fileName: string): Promise<ByteSource | undefined>;
}

/** A folder that writers create files in. */
export interface ModelFolderSink {
  readonly name: string;
  /** A sink for a new file; it replaces any file of that name when committed. */
  create(fileName: string): Promise<ByteSink>;
  /** Removes a file if it is there. */
  remove(fileName: string): Promise<void>;
}

/**
 * A folder over Blobs or Files, e.g. what a browser's directory picker or a drop gives: a map from
 * file name to Blob, or Files keyed by their own name.
 */
export function blobFolder(name: string, files: Iterable<File> | ReadonlyMap<string, Blob>): ModelFolder {
  const byName =
    files instanceof Map ? new Map(files) : new Map([...(files as Iterable<File>)].map((f) => [f.name, f]));
  return {
    name,
    open: async (fileName) => {
      const blob = byName.get(fileName);
      return blob === undefined ? undefined : blobSource(blob, `${name}/${fileName}`);
    },
  };
}
