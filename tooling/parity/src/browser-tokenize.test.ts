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
import { modelFile, STORY_PROMPTS } from '@llm/formats/testing';
import { openModel } from '@llm/model/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserTokenizeReport } from './browser/tokenize-entry.js';

const gguf = modelFile('stories260K.gguf');
const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');

describe.skipIf(!gguf || !bin || !tok || !chromiumAvailable('tokenizing from Files in Chromium'))(
  'stories260K opened from File objects in Chromium through @llm/formats and @llm/tokenizer',
  () => {
    let server: LoopbackServer | undefined;
    let browser: Browser | undefined;

    beforeAll(async () => {
      const launching = launchChromium().then((launched) => (browser = launched));
      const [bundle] = await Promise.all([
        bundleForBrowser(fileURLToPath(new URL('./browser/tokenize-entry.ts', import.meta.url))),
        launching,
      ]);
      server = await serveLoopback({
        '/': modulePage('tokenize from files', '/entry.js', '<input type="file" multiple>'),
        '/entry.js': javascript(bundle),
      });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('tokenizes the parity prompts to the same ids as Node, reading parts of the files only', async () => {
      const page = await browser!.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${server!.origin}/`);
      // As a user picks files: the page gets File objects, not paths or URLs.
      await page.setInputFiles('input[type=file]', [gguf!, bin!, tok!]);
      const report: BrowserTokenizeReport = await page.evaluate(
        (prompts) => window.tokenizeFromFiles(prompts),
        [...STORY_PROMPTS],
      );

      const fromGguf = await openModel(gguf!);
      const fromBin = await openModel(bin!, { tokenizerPath: tok! });
      try {
        const nodeIds = (t: typeof fromGguf.tokenizer) =>
          STORY_PROMPTS.map((p) => Array.from(t.encode(p, { addSpecial: true })));
        expect(report.ggufIds).toEqual(nodeIds(fromGguf.tokenizer));
        expect(report.llama2cIds).toEqual(nodeIds(fromBin.tokenizer));
        expect(report.ggufIds).toEqual(report.llama2cIds);
        expect(report.vocabSize).toBe(fromBin.source.config.vocabSize);
        // The GGUF's and checkpoint's weights are never read: only headers and vocabularies.
        expect(report.bytesRead).toBeLessThan(report.bytesInFiles / 2);
        expect(pageErrors).toEqual([]);
      } finally {
        await fromGguf.source.close();
        await fromBin.source.close();
        await page.close();
      }
    }, 60_000);
  },
);
