import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ByteSink } from '../io/byte-sink.js';
import type { ModelFolderSink } from '../io/model-folder.js';

const maxWriteBytes = 1 << 30;

/** Writes to `${path}.partial-<pid>` and renames it over `path` on commit. */
export async function fileSink(path: string): Promise<ByteSink> {
  const temporary = `${path}.partial-${process.pid}`;
  const handle = await open(temporary, 'w');
  let isOpen = true;
  const closeHandle = async (): Promise<void> => {
    if (!isOpen) return;
    isOpen = false;
    await handle.close();
  };
  return {
    name: path,
    write: async (bytes) => {
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await handle.write(
          bytes,
          done,
          Math.min(maxWriteBytes, bytes.byteLength - done),
        );
        done += bytesWritten;
      }
    },
    commit: async () => {
      await closeHandle();
      await rename(temporary, path);
    },
    abort: async () => {
      await closeHandle().catch(() => undefined);
      await rm(temporary, { force: true });
    },
  };
}

/** A local folder, created if needed, that writers add files to. */
export async function directorySink(dir: string): Promise<ModelFolderSink> {
  await mkdir(dir, { recursive: true });
  return {
    name: dir,
    create: (fileName) => fileSink(join(dir, fileName)),
    remove: (fileName) => rm(join(dir, fileName), { force: true }),
  };
}
