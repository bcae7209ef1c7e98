import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';

// Debian's package (tooling/setup.sh installs it); Playwright's own browser downloads are not used.
export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  // Nothing may leave the machine: the page comes from loopback and the browser phones nowhere.
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Imports each ES module in a headless Chromium page served from loopback. Returns, per module,
 * the error its import threw, or undefined when it loaded.
 */
export async function loadInChromium(
  modules: readonly { name: string; code: string }[],
): Promise<Map<string, string | undefined>> {
  const server = createServer((req, res) => {
    const index = /^\/module-(\d+)\.js$/.exec(req.url ?? '')?.[1];
    const module = index === undefined ? undefined : modules[Number(index)];
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><head><link rel="icon" href="data:,"></head><body></body></html>');
    } else if (module) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(module.code);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    const results = new Map<string, string | undefined>();
    for (const [i, module] of modules.entries()) {
      // A string, not a function: test runners rewrite import() inside functions they transform.
      const error = (await page.evaluate(
        `import('/module-${i}.js').then(() => undefined, (cause) => String(cause))`,
      )) as string | undefined;
      results.set(module.name, error);
    }
    return results;
  } finally {
    await browser.close();
    server.close();
  }
}
