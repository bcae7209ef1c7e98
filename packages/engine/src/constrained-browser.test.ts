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
import { modelFile } from '@llm/formats/testing';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const gguf = modelFile('stories260K.gguf');

const SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 1, maximum: 9 }, ok: { type: 'boolean' } },
  required: ['name', 'age', 'ok'],
};

describe.skipIf(!gguf || !chromiumAvailable('constrained generation in Chromium'))('constrained generation in a browser page', () => {
  let server: LoopbackServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    const launching = launchChromium().then((launched) => (browser = launched));
    const [bundle] = await Promise.all([
      // @mlc-ai/web-xgrammar's Node branch names Node's `url` and `module`; a page's bundler
      // leaves them out (esbuild: external, webpack: resolve.fallback false, Vite externalizes them).
      bundleForBrowser(fileURLToPath(new URL('./browser/constrained-entry.ts', import.meta.url)), { external: ['url', 'module'] }),
      launching,
    ]);
    server = await serveLoopback({
      '/': modulePage('constrained generation', '/entry.js', '<input type="file">'),
      '/entry.js': javascript(bundle),
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads XGrammar from the bundle and generates JSON valid for a schema, nothing from Node', async () => {
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await page.goto(`${server!.origin}/`);
      await page.setInputFiles('input[type=file]', [gguf!]);
      const report = await page.evaluate(([schema]) => window.generateJson(schema, [1, 2, 3]), [SCHEMA] as const);
      expect(report.finishReasons).toEqual(['stop', 'stop', 'stop']);
      for (const text of report.texts) expect(new Ajv().validate(SCHEMA, JSON.parse(text)), text).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 120_000);
});
