import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  chromiumAvailable,
  launchChromium,
  serveLoopback,
  type Browser,
  type LoopbackServer,
  type Page,
} from '@llm/browser-harness';
import { modelFile, modelsDir } from '@llm/formats/testing';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLlmServe, type Served } from './llm-serve.test-support.js';
import { appRoot, buildPlayground, distRoutes } from './playground-build.test-support.js';

const bin = modelFile('stories260K.bin');
const tok = modelFile('tok512.bin');
const gguf = modelFile('stories260K.gguf');
const screenshots = join(appRoot, 'test-results');

/** llama2.c's run.c output for stories260K from BOS, greedy, 256 tokens: the indented block of the models README. */
async function knownText(): Promise<string> {
  const readme = await readFile(join(modelsDir(), 'README.md'), 'utf8');
  const after = readme.slice(readme.indexOf('Known output'));
  const lines = after.split('\n');
  const start = lines.findIndex((l) => l.startsWith('    '));
  const block: string[] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('    ')) break;
    block.push(line.slice(4));
  }
  return block.join('\n');
}

interface Watched {
  readonly page: Page;
  /** Console errors, page errors and requests that tried to leave the page's origin. */
  readonly problems: string[];
}

/** A page on `origin` where every request elsewhere fails (and is recorded): the page must work offline. */
async function openPage(browser: Browser, origin: string): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('blob:') || url.startsWith('data:')) return route.continue();
    problems.push(`request left the origin: ${url}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await page.goto(`${origin}/`);
  await page.waitForSelector('body[data-page="ready"]', { timeout: 30_000 });
  return { page, problems };
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

describe.skipIf(!chromiumAvailable('the playground in Chromium') || !bin || !tok || !gguf)('the playground in Chromium (WebGPU on SwiftShader)', () => {
  let browser: Browser | undefined;
  let server: LoopbackServer | undefined;

  beforeAll(async () => {
    const launching = launchChromium({ webgpu: true }).then((b) => (browser = b));
    await Promise.all([buildPlayground(), launching, mkdir(screenshots, { recursive: true })]);
    server = await serveLoopback(await distRoutes());
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads stories260K.bin + tok512.bin from the file input, generates the known 256 greedy tokens, shows paging, sharing and the roofline, then chats with the GGUF', async () => {
    const { page, problems } = await openPage(browser!, server!.origin);
    await expect.poll(() => page.textContent('#webgpu-status')).toMatch(/^WebGPU ready/);
    await page.selectOption('#prompt-mode', 'text');
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '256');
    await page.dispatchEvent('#max-tokens', 'change');
    await page.setInputFiles('#model-input', [bin!, tok!]);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 120_000 });
    await page.waitForSelector('body[data-roofline="measured"]', { timeout: 60_000 });
    expect(await page.textContent('#model-info')).toContain('64 blocks of 16 tokens');
    expect(await page.textContent('#cache-list')).toContain('stories260K.bin');
    await shoot(page, '1-loaded');

    await page.click('#send');
    // Blocks fill while it generates.
    await page.waitForSelector('.kv-grid .block.used', { timeout: 60_000 });
    await shoot(page, '2-generating');
    await page.waitForSelector('body[data-generating="no"]', { timeout: 120_000 });
    const reply = await page.textContent('.message.assistant:last-child .content');
    expect(reply).toBe(await knownText());
    // Finished: nothing holds a block (its prefix stays cached for reuse).
    await expect.poll(() => page.locator('.kv-grid .block.used').count()).toBe(0);
    expect(await page.locator('.kv-grid .block.cached').count()).toBeGreaterThan(0);
    expect(await page.locator('#request-metrics tbody tr').count()).toBe(1);
    await shoot(page, '3-generated');

    // With timestamp queries, the next 8 steps (the demo's) are timed kernel by kernel on the GPU.
    const timestamps = await page.isEnabled('#profile');
    if (timestamps) await page.click('#profile');
    await page.click('#batch-demo');
    await page.waitForSelector('.kv-grid .block.shared', { timeout: 60_000 });
    await shoot(page, '4-batch-demo-shared-blocks');
    await page.waitForSelector('body[data-demo="done"]', { timeout: 120_000 });
    expect(await page.locator('#request-metrics tbody tr').count()).toBe(4);
    // Several sequences ran in one step (continuous batching), and the steps are on the roofline.
    expect(await page.locator('#batch-timeline rect.decode').count()).toBeGreaterThan(0);
    expect(await page.locator('#roofline path.roof').count()).toBe(1);
    expect(await page.locator('#roofline circle.roof-point').count()).toBeGreaterThan(10);
    if (timestamps) await expect.poll(() => page.locator('#kernel-times tr').count()).toBeGreaterThan(3);
    await shoot(page, '5-roofline');

    // The conversation survives a reload.
    await page.reload();
    await page.waitForSelector('body[data-page="ready"]');
    expect(await page.textContent('.message.assistant:last-child .content')).toBe(await knownText());

    // A GGUF in chat mode: its tokenizer and the fallback chat template come from the file; the
    // reply renders as Markdown.
    await page.click('#clear');
    await page.selectOption('#prompt-mode', 'chat');
    await page.fill('#max-tokens', '24');
    await page.setInputFiles('#model-input', [gguf!]);
    await page.waitForSelector('body[data-model="loading"]');
    await page.waitForSelector('body[data-model="ready"]', { timeout: 120_000 });
    expect(await page.textContent('#model-info')).toContain('stories260K.gguf (gguf)');
    await page.fill('#prompt', 'Tell me a story about a cat.');
    await page.click('#send');
    await page.waitForSelector('body[data-generating="yes"]');
    await page.waitForSelector('body[data-generating="no"]', { timeout: 60_000 });
    expect(((await page.textContent('.message.assistant:last-child .content.markdown')) ?? '').trim()).not.toBe('');
    expect(await page.textContent('#cache-list')).toContain('stories260K.gguf');
    await page.click('button[aria-label="Delete stories260K.gguf from the browser cache"]');
    await expect.poll(() => page.textContent('#cache-list')).not.toContain('stories260K.gguf');
    expect(problems).toEqual([]);
    await page.context().close();
  }, 360_000);

  it('keeps a sampled reply to a JSON Schema with the in-browser engine: it parses and validates', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 12 },
        age: { type: 'integer', minimum: 1, maximum: 99 },
        mood: { enum: ['happy', 'sad', 'sleepy'] },
        friends: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 3 },
      },
      required: ['name', 'age', 'mood', 'friends'],
      additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    const { page, problems } = await openPage(browser!, server!.origin);
    await page.click('#clear');
    await page.selectOption('#prompt-mode', 'text');
    await page.setInputFiles('#model-input', [bin!, tok!]);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 120_000 });
    await page.fill('#temperature', '1');
    await page.fill('#max-tokens', '200');
    await page.selectOption('#response-format', 'json_schema');
    await page.fill('#json-schema', JSON.stringify(schema));
    for (const seed of [1, 2, 3]) {
      await page.fill('#seed', String(seed));
      await page.fill('#prompt', 'Once upon a time');
      await page.click('#send');
      await page.waitForSelector('body[data-generating="yes"]');
      await page.waitForSelector('body[data-generating="no"]', { timeout: 120_000 });
      // stories260K knows no JSON: the grammar alone makes the reply valid.
      const reply = (await page.textContent('.message.assistant:last-child .content')) ?? '';
      expect(reply).not.toContain('[error');
      const value: unknown = JSON.parse(reply);
      expect(validate(value), `${reply}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    await shoot(page, '7-json-schema');
    // A schema that is not JSON is a message in the conversation, not a crash.
    await page.fill('#json-schema', '{"type": ');
    await page.fill('#prompt', 'Once upon a time');
    await page.click('#send');
    await page.waitForSelector('body[data-generating="no"]', { timeout: 60_000 });
    expect(await page.textContent('.message.assistant:last-child .content')).toMatch(/\[error: the JSON Schema is not JSON/);
    expect(problems).toEqual([]);
    await page.context().close();
  }, 300_000);

  it('says when the browser has no WebGPU and offers remote mode instead', async () => {
    const plain = await launchChromium();
    try {
      const { page, problems } = await openPage(plain, server!.origin);
      await expect.poll(() => page.textContent('#webgpu-status')).toMatch(/no WebGPU|no adapter/);
      expect(await page.isChecked('#mode-remote')).toBe(true);
      expect(await page.isVisible('#remote-panel')).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  it("chats in remote mode with a real llm serve, from the page it serves at /", async () => {
    const served: Served = await startLlmServe(['--model', gguf!, '--served-model-name', 'stories260K', '--backend', 'cpu']);
    try {
      const { page, problems } = await openPage(browser!, served.baseUrl);
      await page.check('#mode-remote');
      await page.click('#remote-connect');
      await expect.poll(() => page.textContent('#remote-status')).toContain('connected: stories260K');
      await page.fill('#temperature', '0');
      await page.fill('#max-tokens', '32');
      await page.fill('#prompt', 'Tell me a story about a cat.');
      await page.press('#prompt', 'Enter');
      await page.waitForSelector('body[data-generating="yes"]');
      await page.waitForSelector('body[data-generating="no"]', { timeout: 60_000 });
      const reply = (await page.textContent('.message.assistant:last-child .content')) ?? '';
      expect(reply.trim().length).toBeGreaterThan(0);
      expect(reply).not.toContain('[error');
      expect(await page.locator('#request-metrics tbody tr').count()).toBe(1);
      await shoot(page, '6-remote');
      expect(problems).toEqual([]);
      await page.context().close();
    } finally {
      await served.stop();
    }
  }, 180_000);
});
