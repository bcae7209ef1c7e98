// `pnpm bench playground`: in-browser decode (the playground page in headless Chromium, WebGPU on
// whatever adapter the browser has: SwiftShader on a machine without a GPU) next to the Node
// engine (Dawn) on the same machine, for stories260K and a synthetic model of the 110M shape.
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveLoopback, type Browser } from '@llm/browser-harness';
import { Engine } from '@llm/engine';
import { modelFile } from '@llm/formats/testing';
import { GpuContext } from '@llm/kernels';
import { yieldHostThread } from '@llm/kernels/node';
import { GpuModelRunner } from '@llm/model';
import { openModel } from '@llm/model/node';
import { printTable, progress } from './console-report.js';
import { ensureSyntheticModel } from './decode-models.js';
import { writeResult } from './result-writer.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(repoRoot, 'apps', 'playground', 'dist');
// The page's engine settings (apps/playground/src/engine-worker.ts), so both sides run the same runner.
const RUNNER_OPTIONS = { maxSeqs: 8, maxStepTokens: 256 };
const MAX_MODEL_LEN = 2048;

interface DecodeRate {
  readonly adapter: string;
  readonly tokensPerSecond: number;
  readonly runs: readonly number[];
}

interface BenchModel {
  readonly name: string;
  /** Files the page's file input takes (a llama2.c checkpoint and its tokenizer, or one GGUF). */
  readonly files: readonly string[];
  /** Tokens generated from BOS, greedy. */
  readonly tokens: number;
}

export const method =
  'one request from BOS alone, greedy, N tokens; decode tokens/s = (tokens - 1) / (last token time - first token time), ' +
  'so prefill and the first token are left out. Browser: the built playground page in headless Chromium ' +
  '(--enable-unsafe-webgpu), model picked through its file input, raw-text mode, tokens/s as its request table shows it ' +
  '(the engine in a Web Worker on navigator.gpu). Node: the same runner options (maxSeqs 8, maxStepTokens 256) and Engine on ' +
  "Dawn's default adapter, main thread yielded to the adapter's threads on a CPU adapter as the CLI does. Best of 2 runs each.";

async function models(): Promise<BenchModel[]> {
  const bin = modelFile('stories260K.bin');
  const tok = modelFile('tok512.bin');
  if (!bin || !tok) throw new Error('stories260K.bin and tok512.bin are missing from the shared models folder');
  const synthetic = await ensureSyntheticModel('llama110m-f32.gguf', { preset: 'llama110m', dtype: 'f32' });
  return [
    { name: 'stories260K (f32)', files: [bin, tok], tokens: 256 },
    { name: 'synthetic 110M shape (f32)', files: [synthetic], tokens: 24 },
  ];
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

async function distRoutes() {
  const routes: Record<string, { contentType: string; body: Uint8Array }> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else routes[`/${relative(distDir, path)}`] = { contentType: CONTENT_TYPES[extname(path)] ?? 'application/octet-stream', body: await readFile(path) };
    }
  };
  await walk(distDir);
  routes['/'] = routes['/index.html']!;
  return routes;
}

/** Decode tokens/s in the page: load through the file input, generate from BOS, read the request table. */
async function browserDecode(browser: Browser, origin: string, model: BenchModel): Promise<DecodeRate> {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-page="ready"]');
    const adapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' ') : 'none';
    });
    await page.uncheck('#keep-cached');
    await page.selectOption('#prompt-mode', 'text');
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', String(model.tokens));
    await page.setInputFiles('#model-input', [...model.files]);
    await page.waitForSelector('body[data-model="ready"]', { timeout: 600_000 });
    const rates: number[] = [];
    for (let run = 0; run < 2; run++) {
      await page.click('#send');
      await page.waitForSelector('body[data-generating="yes"]');
      await page.waitForSelector('body[data-generating="no"]', { timeout: 600_000 });
      const cells = await page.locator('#request-metrics tbody tr:first-child td').allTextContents();
      rates.push(Number(cells[6]));
    }
    return { adapter, tokensPerSecond: Math.max(...rates), runs: rates };
  } finally {
    await page.close();
  }
}

/** Decode tokens/s of the Node engine with the page's runner options. */
async function nodeDecode(ctx: GpuContext, model: BenchModel): Promise<DecodeRate> {
  const path = model.files[0]!;
  const opened = await openModel(path, model.files[1] === undefined ? {} : { tokenizerPath: model.files[1] });
  const runner = await GpuModelRunner.load(ctx, opened.source, {
    ...RUNNER_OPTIONS,
    maxModelLen: Math.min(opened.source.config.contextLength, MAX_MODEL_LEN),
  });
  try {
    const engine = new Engine(runner, opened.tokenizer);
    const promptIds = opened.tokenizer.encode('', { addSpecial: true });
    const rates: number[] = [];
    for (let run = 0; run < 2; run++) {
      const result = await engine.complete({ promptIds, maxTokens: model.tokens, sampling: { temperature: 0 } });
      const times = result.completions[0]!.tokenTimesMs;
      rates.push(((times.length - 1) * 1000) / (times[times.length - 1]! - times[0]!));
    }
    await engine.close();
    return { adapter: ctx.adapterName, tokensPerSecond: Math.max(...rates), runs: rates };
  } finally {
    runner.dispose();
    await opened.source.close();
  }
}

export async function main(args: readonly string[]): Promise<void> {
  if (args.length > 0) {
    process.stderr.write(`playground takes no arguments, got: ${args.join(' ')}\n`);
    process.exit(2);
  }
  const list = await models();
  progress('building the playground');
  execFileSync('pnpm', ['--filter', '@llm/playground', 'build'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
  const server = await serveLoopback(await distRoutes());
  const browser = await launchChromium({ webgpu: true });
  const browserResults: DecodeRate[] = [];
  try {
    for (const m of list) {
      progress(`browser: ${m.name}, ${m.tokens} tokens`);
      browserResults.push(await browserDecode(browser, server.origin, m));
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const ctx = await GpuContext.create();
  const yielded = yieldHostThread(ctx);
  const nodeResults: DecodeRate[] = [];
  try {
    for (const m of list) {
      progress(`node: ${m.name}, ${m.tokens} tokens`);
      nodeResults.push(await nodeDecode(ctx, m));
    }
  } finally {
    ctx.destroy();
  }
  const rows = list.map((m, i) => ({
    model: m.name,
    tokens: m.tokens,
    browserTokensPerSecond: browserResults[i]!.tokensPerSecond,
    nodeTokensPerSecond: nodeResults[i]!.tokensPerSecond,
    browserOverNode: browserResults[i]!.tokensPerSecond / nodeResults[i]!.tokensPerSecond,
  }));
  const path = await writeResult('playground', {
    method,
    browser: { adapter: browserResults[0]?.adapter, runs: browserResults.map((r) => r.runs) },
    node: { adapter: nodeResults[0]?.adapter, hostThreadYielded: yielded, runs: nodeResults.map((r) => r.runs) },
    results: rows,
  });
  progress(`wrote ${path}`);
  printTable(
    rows.map((r, i) => ({
      model: r.model,
      tokens: r.tokens,
      [`browser tok/s (${browserResults[i]!.adapter})`]: r.browserTokensPerSecond,
      [`node tok/s (${nodeResults[i]!.adapter})`]: r.nodeTokensPerSecond,
      'browser / node': r.browserOverNode,
    })),
  );
}
