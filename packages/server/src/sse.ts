/** What a generation route needs besides its request body. */
export interface RouteContext {
  /** Aborts on the client's disconnect and on a shutdown that ran out of time. */
  readonly signal: AbortSignal;
  /** Whether the client has gone (then nothing sent to it matters). */
  readonly clientGone: () => boolean;
  /** Marks work the shutdown waits for; returns the function that ends it. */
  readonly track: (abort: () => void) => () => void;
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Proxies (nginx) would otherwise hold the events back.
  'x-accel-buffering': 'no',
};

/**
 * A server-sent event stream of `events` (objects as JSON, strings verbatim) as `data:` lines.
 * `onEnd` runs once when the stream ends or the client leaves; a client that leaves also runs
 * `onCancel` first, so that an event still awaited comes at once.
 */
export function sseResponse(
  events: AsyncGenerator<object | string>,
  onCancel: () => void,
  onEnd: () => void,
): Response {
  const encoder = new TextEncoder();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await events.next();
        if (next.done) {
          controller.close();
          end();
        } else {
          const data = typeof next.value === 'string' ? next.value : JSON.stringify(next.value);
          controller.enqueue(encoder.encode(`data: ${data}\n\n`));
        }
      } catch (error) {
        controller.error(error);
        end();
      }
    },
    async cancel() {
      onCancel();
      try {
        await events.return(undefined);
      } finally {
        end();
      }
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}
