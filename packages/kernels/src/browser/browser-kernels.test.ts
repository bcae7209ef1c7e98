import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserKernelReport } from './browser-entry.js';

// Debian's package (tooling/setup.sh installs it); Playwright's own browser downloads are not used.
const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  // Nothing may leave the machine: the page comes from loopback and the browser phones nowhere.
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// f32: another WebGPU implementation (SwiftShader, not Dawn-on-lavapipe) may sum in another order
// and fuse multiply-adds differently. f16 weights: the reference multiplies the same f16-rounded
// values and every path accumulates in f32, so the same bound holds.
const MAX_REL_L2 = { f32: 1e-4, f16: 1e-4 } as const;

const ci = process.env['CI'] === 'true';
const hasChromium = existsSync(CHROMIUM_PATH);
if (!hasChromium && !ci) {
  process.stderr.write(`browser kernel test skipped: no ${CHROMIUM_PATH} (apt-get install -y chromium)\n`);
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>@llm/kernels in the browser</title></head>
<body><script type="module" src="/browser-entry.js"></script></body></html>
`;

async function bundleEntry(): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser-entry.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for browser-entry.ts');
  return file.text;
}

/** Serves the page and the bundle on a free loopback port. */
async function serve(bundle: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (path === '/browser-entry.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

describe.skipIf(!hasChromium && !ci)('@llm/kernels in Chromium (navigator.gpu)', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // Under CI=true without Chromium the test below fails; here there is nothing to start.
    if (!hasChromium) return;
    // Assigned as soon as it starts, so afterAll closes it even when the bundle fails.
    const launching = chromium
      .launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
      .then((launched) => (browser = launched));
    const [bundle] = await Promise.all([bundleEntry(), launching]);
    server = await serve(bundle);
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      // Keep-alive sockets from the page would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
  });

  it('runs rmsNorm, linear (f32 and f16, matvec and tiled matmul) and argmax like the CPU references', async () => {
    if (!hasChromium) {
      throw new Error(`CI=true needs Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium`);
    }
    const seed = Date.now() % 1e6;
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    const { port } = server!.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/?seed=${seed}`);
    const context = (): string => `seed ${seed}; page errors: ${pageErrors.join(' | ') || 'none'}`;
    let report: BrowserKernelReport | undefined;
    try {
      // The module script has run once goto's load event fired; its promise settles when the GPU is done.
      report = await page.evaluate(() => window.kernelReport);
    } catch (error) {
      throw new Error(`the page's kernel run failed (${context()}): ${String(error)}`, { cause: error });
    }
    expect(report, context()).toBeDefined();
    const r = report!;
    process.stderr.write(
      `browser kernels on ${JSON.stringify(r.adapterInfo)} (cpu ${r.isCpuAdapter}, subgroup size ` +
        `${r.subgroupSize}), features ${JSON.stringify(r.features)}, seed ${seed}\n` +
        r.checks.map((c) => `  ${c.label}: rel L2 ${c.relL2.toExponential(2)}, ${c.ms} ms\n`).join('') +
        `  ${r.userAgent}\n`,
    );

    expect(r.adapter, context()).not.toBe('');
    expect(
      r.checks.map((c) => c.kernel),
      context(),
    ).toEqual(['rmsNorm', 'linear', 'linear', 'linear', 'linear', 'linear']);
    for (const c of r.checks) {
      expect(c.unwritten, `${c.label}: ${context()}`).toBe(0);
      expect(c.relL2, `${c.label}: relative L2 ${c.relL2}; ${context()}`).toBeLessThan(MAX_REL_L2[c.dtype]);
    }
    expect(r.argmax.got, `argmax ${r.argmax.rows}x${r.argmax.vocab}: ${context()}`).toEqual(r.argmax.want);
    expect(pageErrors, context()).toEqual([]);
    await page.close();
  }, 90_000);
});
