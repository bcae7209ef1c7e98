import type { FileHandle } from 'node:fs/promises';

// One read() call is capped well below 2 GiB: Linux returns at most 0x7ffff000 bytes per call.
const MAX_READ_BYTES = 1 << 30;

/**
 * Fills `target` from `position` onwards, looping over short reads. Returns false when the file
 * ends first.
 */
export async function readFully(file: FileHandle, target: Uint8Array, position: number): Promise<boolean> {
  let done = 0;
  while (done < target.byteLength) {
    const length = Math.min(MAX_READ_BYTES, target.byteLength - done);
    const { bytesRead } = await file.read(target, done, length, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}

/** Writes all of `source`, looping over short writes. */
export async function writeFully(file: FileHandle, source: Uint8Array): Promise<void> {
  let done = 0;
  while (done < source.byteLength) {
    const length = Math.min(MAX_READ_BYTES, source.byteLength - done);
    const { bytesWritten } = await file.write(source, done, length);
    done += bytesWritten;
  }
}
