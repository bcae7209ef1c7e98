import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

export interface LoopbackServer {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves fixed routes (path -> body) on a free loopback port; anything else is a 404. */
export async function serveLoopback(routes: Readonly<Record<string, Route>>): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://127.0.0.1').pathname];
    if (route) res.writeHead(200, { 'content-type': route.contentType }).end(route.body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: async () => {
      // Keep-alive sockets from a page would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A page with `body` that runs the module script at `script` (if any), with no favicon request. */
export function modulePage(title: string, script?: string, body = ''): Route {
  const tag = script === undefined ? '' : `<script type="module" src="${script}"></script>`;
  return {
    contentType: 'text/html; charset=utf-8',
    body:
      `<!doctype html>\n<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${title}</title></head>\n` +
      `<body>${body}${tag}</body></html>\n`,
  };
}

export function javascript(code: string): Route {
  return { contentType: 'text/javascript; charset=utf-8', body: code };
}
