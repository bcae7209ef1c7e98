import { fileURLToPath } from 'node:url';
import {
  bundleForBrowser,
  chromiumAvailable,
  javascript,
  launchChromium,
  modulePage,
  serveLoopback,
  type Browser,
  type LoopbackServer,
} from '@llm/browser-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserKernelReport } from './browser-entry.js';

// f32: another WebGPU implementation (SwiftShader, not Dawn-on-lavapipe) may sum in another order
// and fuse multiply-adds differently. f16 weights: the reference multiplies the same f16-rounded
// values and every path accumulates in f32, so the same bound holds.
const MAX_REL_L2 = { f32: 1e-4, f16: 1e-4 } as const;

describe.skipIf(!chromiumAvailable('@llm/kernels in Chromium'))('@llm/kernels in Chromium (navigator.gpu)', () => {
  let server: LoopbackServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // Assigned as soon as it starts, so afterAll closes it even when the bundle fails.
    const launching = launchChromium({ webgpu: true }).then((launched) => (browser = launched));
    const [bundle] = await Promise.all([
      bundleForBrowser(fileURLToPath(new URL('./browser-entry.ts', import.meta.url))),
      launching,
    ]);
    server = await serveLoopback({
      '/': modulePage('@llm/kernels in the browser', '/browser-entry.js'),
      '/browser-entry.js': javascript(bundle),
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs rmsNorm, linear (f32 and f16, matvec and tiled matmul) and argmax like the CPU references', async () => {
    const seed = Date.now() % 1e6;
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    await page.goto(`${server!.origin}/?seed=${seed}`);
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
