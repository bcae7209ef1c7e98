import { ByteSourceError, clampedLength, type ByteSource } from './byte-source.js';

export interface HttpRangeSourceOptions {
  /** The fetch to use (defaults to the global one), e.g. to add credentials or retries. */
  readonly fetch?: typeof fetch;
  /** Extra request headers, e.g. Authorization. */
  readonly headers?: Readonly<Record<string, string>>;
}

const contentRangePattern = /^bytes (\d+)-(\d+)\/(\d+)$/;

/**
 * A file on an HTTP server read with `Range: bytes=a-b` requests, so opening a model fetches its
 * header and each tensor as it is read, never the whole file. The server must answer 206 with a
 * Content-Range; one that ignores ranges raises ByteSourceError rather than sending everything.
 */
export async function httpRangeSource(
  url: string,
  options: HttpRangeSourceOptions = {},
): Promise<ByteSource> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const get = async (first: number, last: number): Promise<{ bytes: Uint8Array; range: ContentRange }> => {
    let response: Response;
    try {
      response = await fetchFn(url, { headers: { ...options.headers, Range: `bytes=${first}-${last}` } });
    } catch (cause) {
      throw new ByteSourceError(`request failed (${(cause as Error).message})`, url, { cause, code: 'unavailable' });
    }
    if (response.status !== 206) {
      await response.body?.cancel();
      throw new ByteSourceError(
        response.ok
          ? `the server ignored the range request (status ${response.status}); it must support HTTP range requests`
          : `range request for bytes ${first}-${last} failed with status ${response.status}`,
        url,
        { code: response.status === 404 || response.status === 410 ? 'not_found' : response.status >= 500 ? 'unavailable' : 'invalid_argument' },
      );
    }
    const range = parseContentRange(response.headers.get('content-range'), url);
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { bytes, range };
  };

  // One byte up front learns the size from Content-Range and checks that ranges are honoured.
  const probe = await get(0, 0);
  const size = probe.range.size;
  return {
    name: url,
    size,
    read: async (position, length) => {
      const n = clampedLength(size, position, length);
      if (n === 0) return new Uint8Array(0);
      const last = position + n - 1;
      const { bytes, range } = await get(position, last);
      if (range.first !== position || range.last !== last || range.size !== size || bytes.byteLength !== n) {
        throw new ByteSourceError(
          `asked for bytes ${position}-${last} of ${size}, got ${bytes.byteLength} bytes as ${range.first}-${range.last}/${range.size}; the file changed or the server is misbehaving`,
          url,
        );
      }
      return bytes;
    },
    close: async () => undefined,
  };
}

interface ContentRange {
  readonly first: number;
  readonly last: number;
  readonly size: number;
}

function parseContentRange(header: string | null, url: string): ContentRange {
  const match = header === null ? null : contentRangePattern.exec(header.trim());
  if (match === null) {
    throw new ByteSourceError(
      `a 206 answer needs a Content-Range of the form "bytes a-b/size", got ${header === null ? 'none' : JSON.stringify(header)}`,
      url,
    );
  }
  return { first: Number(match[1]), last: Number(match[2]), size: Number(match[3]) };
}
