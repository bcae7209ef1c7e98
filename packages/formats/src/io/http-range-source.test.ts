import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGgufSource } from '../gguf/gguf-file.js';
import { modelFile } from '../testing/index.js';
import { ByteSourceError } from './byte-source.js';
import { httpRangeSource } from './http-range-source.js';

const gguf = modelFile('stories260K.gguf');
const small = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);

/** How each path answers: honouring ranges, ignoring them, or claiming more bytes than it has. */
type Mode = 'ranges' | 'ignore' | 'short';

let server: Server;
let base: string;
let ggufBytes: Uint8Array | undefined;
const requestedRanges: string[] = [];

function respond(
  body: Uint8Array,
  mode: Mode,
  range: string | undefined,
  res: import('node:http').ServerResponse,
): void {
  if (mode === 'ignore' || range === undefined) {
    res.writeHead(200, { 'Content-Length': body.length });
    res.end(body);
    return;
  }
  const match = /^bytes=(\d+)-(\d+)$/.exec(range)!;
  const first = Number(match[1]);
  const last = Math.min(Number(match[2]), body.length - 1);
  // A short file claims twice its size and so runs out before the ranges it promises.
  const claimed = mode === 'short' ? body.length * 2 : body.length;
  const slice = body.subarray(first, last + 1);
  res.writeHead(206, {
    'Content-Range': `bytes ${first}-${mode === 'short' ? Number(match[2]) : last}/${claimed}`,
    'Content-Length': slice.length,
  });
  res.end(slice);
}

beforeAll(async () => {
  if (gguf !== undefined) ggufBytes = new Uint8Array(await readFile(gguf));
  server = createServer((req, res) => {
    const [, mode, name] = (req.url ?? '').split('/') as [string, Mode, string];
    const range = req.headers.range;
    if (range !== undefined) requestedRanges.push(range);
    respond(name === 'model.gguf' && ggufBytes ? ggufBytes : small, mode, range, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('httpRangeSource', () => {
  it('learns the size from Content-Range and reads exact ranges', async () => {
    const source = await httpRangeSource(`${base}/ranges/small.bin`);
    expect(source.size).toBe(small.length);
    expect(await source.read(10, 20)).toEqual(small.subarray(10, 30));
    expect(await source.read(990, 100)).toEqual(small.subarray(990));
    expect((await source.read(1000, 10)).length).toBe(0);
  });

  it('refuses a server that ignores ranges with a ByteSourceError', async () => {
    const error = await httpRangeSource(`${base}/ignore/small.bin`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ByteSourceError);
    expect((error as Error).message).toMatch(/ignored the range request/);
  });

  it('raises ByteSourceError when the file is shorter than its Content-Range says', async () => {
    const source = await httpRangeSource(`${base}/short/small.bin`);
    expect(source.size).toBe(2 * small.length);
    await expect(source.read(900, 200)).rejects.toBeInstanceOf(ByteSourceError);
  });

  it('passes a custom fetch and headers', async () => {
    const seen: string[] = [];
    const source = await httpRangeSource(`${base}/ranges/small.bin`, {
      headers: { Authorization: 'Bearer x' },
      fetch: (input, init) => {
        seen.push(new Headers(init?.headers).get('authorization') ?? '');
        return fetch(input, init);
      },
    });
    await source.read(0, 4);
    expect(seen).toEqual(['Bearer x', 'Bearer x']);
  });

  it.skipIf(gguf === undefined)(
    'opens a GGUF and reads a tensor without fetching the whole file',
    async () => {
      requestedRanges.length = 0;
      const file = await openGgufSource(await httpRangeSource(`${base}/ranges/model.gguf`));
      try {
        expect(file.getString('general.architecture')).toBe('llama');
        const info = file.tensors.at(-1)!;
        const data = await file.readTensorBytes(info.name);
        expect(data).toEqual(ggufBytes!.subarray(info.offset, info.offset + info.byteLength));
        for (const range of requestedRanges) {
          const [first, last] = range.slice('bytes='.length).split('-').map(Number) as [number, number];
          expect(last - first + 1).toBeLessThan(ggufBytes!.length);
        }
      } finally {
        await file.close();
      }
    },
  );
});
