import { open } from 'node:fs/promises';
import { ByteSourceError, clampedLength, type ByteSource } from '../io/byte-source.js';
import { fileSystemError } from './file-system-error.js';

// One read() call is capped well below 2 GiB: Linux returns at most 0x7ffff000 bytes per call.
const maxReadBytes = 1 << 30;

/** A local file as a ByteSource; its size is taken when opened. */
export async function fileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r').catch((error: unknown) => {
    throw fileSystemError(error, path);
  });
  let size: number;
  try {
    const entry = await handle.stat();
    // Linux opens a folder for reading; its reads would fail later with EISDIR.
    if (entry.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    size = entry.size;
  } catch (error) {
    await handle.close();
    throw fileSystemError(error, path);
  }
  let closed = false;
  return {
    name: path,
    size,
    read: async (position, length) => {
      if (closed) throw new ByteSourceError('file is closed', path);
      const out = new Uint8Array(clampedLength(size, position, length));
      let filled = 0;
      while (filled < out.length) {
        const chunk = Math.min(maxReadBytes, out.length - filled);
        const { bytesRead } = await handle.read(out, filled, chunk, position + filled);
        if (bytesRead === 0) {
          throw new ByteSourceError(
            `file ends at byte ${position + filled}, before its size ${size}; it shrank while being read`,
            path,
          );
        }
        filled += bytesRead;
      }
      return out;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
