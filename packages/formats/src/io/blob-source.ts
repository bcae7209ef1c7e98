import { ByteSourceError, clampedLength, type ByteSource } from './byte-source.js';

/** A Blob or File (a browser file picker, a fetch response's blob) as a ByteSource. */
export function blobSource(blob: Blob, name = blob instanceof File ? blob.name : 'blob'): ByteSource {
  return {
    name,
    size: blob.size,
    read: async (position, length) => {
      const n = clampedLength(blob.size, position, length);
      const bytes = new Uint8Array(await blob.slice(position, position + n).arrayBuffer());
      if (bytes.byteLength !== n) {
        throw new ByteSourceError(`${n} bytes asked at ${position}, ${bytes.byteLength} read`, name);
      }
      return bytes;
    },
    close: async () => undefined,
  };
}
