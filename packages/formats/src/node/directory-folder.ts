import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelFolder } from '../io/model-folder.js';
import { fileSource } from './file-source.js';

/** A local folder whose files are opened as ByteSources; a name that is not a file there is absent. */
export function directoryFolder(dir: string): ModelFolder {
  return {
    name: dir,
    open: async (fileName) => {
      const path = join(dir, fileName);
      const isFile = await stat(path).then(
        (s) => s.isFile(),
        () => false,
      );
      return isFile ? fileSource(path) : undefined;
    },
  };
}
