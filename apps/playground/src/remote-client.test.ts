import { describe, expect, it } from 'vitest';
import { sseData } from './remote-client.js';

function streamOf(parts: readonly string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

describe('sseData', () => {
  it('yields each event\'s data however the bytes are split, CRLF and multi-line data included', async () => {
    const text = 'data: {"a":1}\n\n: a comment\n\ndata: {"b":\r\ndata: 2}\r\n\r\ndata: [DONE]\n\n';
    const splits = [[text], text.split(''), [text.slice(0, 7), text.slice(7, 30), text.slice(30)]];
    for (const parts of splits) {
      const got: string[] = [];
      for await (const data of sseData(streamOf(parts))) got.push(data);
      expect(got).toEqual(['{"a":1}', '{"b":\n2}', '[DONE]']);
    }
  });

  it('keeps multi-byte characters split across chunks whole', async () => {
    const bytes = new TextEncoder().encode('data: héllo ✓\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(Uint8Array.of(byte));
        controller.close();
      },
    });
    const got: string[] = [];
    for await (const data of sseData(stream)) got.push(data);
    expect(got).toEqual(['héllo ✓']);
  });
});
