import { builtinModules } from 'node:module';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { loadInChromium } from './chromium-load.js';

/** The packages meant to run in a browser (Web Worker) as well as in Node, lowest layer first. */
export const BROWSER_PACKAGES = [
  '@llm/quant',
  '@llm/formats',
  '@llm/tokenizer',
  '@llm/kvcache',
  '@llm/kernels',
  '@llm/scheduler',
  '@llm/attention',
  '@llm/model',
  '@llm/engine',
] as const;

export interface NodeImport {
  /** The built-in as written (`node:fs`, `fs`). */
  specifier: string;
  /** The importing file, relative to the project (node_modules/...). */
  importer: string;
}

export interface BrowserBundle {
  name: string;
  code: string;
  bytes: number;
  gzipBytes: number;
  /** Bytes of the bundle that come from zod. */
  zodBytes: number;
  nodeImports: NodeImport[];
  /** Whether any file of the `webgpu` package (Dawn, Node only) made it into the bundle. */
  includesWebgpu: boolean;
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);
}

/** Leaves Node built-ins external and records who imports them. */
function recordNodeImports(found: NodeImport[]): Plugin {
  return {
    name: 'record-node-imports',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!isBuiltin(args.path)) return undefined;
        found.push({ specifier: args.path, importer: args.importer });
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * Bundles the package `name` as installed in `projectDir` for the browser (esm, minified, every
 * export kept). `webgpu` (Dawn) stays out: in a browser the kernels use navigator.gpu.
 */
export async function bundleForBrowser(projectDir: string, name: string): Promise<BrowserBundle> {
  const nodeImports: NodeImport[] = [];
  const result = await build({
    stdin: { contents: `export * from '${name}';`, resolveDir: projectDir, loader: 'js' },
    absWorkingDir: projectDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    external: ['webgpu'],
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [recordNodeImports(nodeImports)],
  });
  const output = result.outputFiles[0]!;
  let zodBytes = 0;
  for (const out of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(out.inputs)) {
      if (/(^|\/)node_modules\/zod\//.test(path)) zodBytes += input.bytesInOutput;
    }
  }
  const includesWebgpu = Object.keys(result.metafile.inputs).some((path) =>
    /(^|\/)node_modules\/webgpu\//.test(path),
  );
  return {
    name,
    code: output.text,
    bytes: output.contents.byteLength,
    gzipBytes: gzipSync(output.contents).byteLength,
    zodBytes,
    nodeImports,
    includesWebgpu,
  };
}

/** Node built-in imports made by the workspace's own packages (third-party ones are judged by loading). */
export function ownNodeImports(bundle: BrowserBundle): NodeImport[] {
  return bundle.nodeImports.filter((i) => /(^|\/)node_modules\/@llm\//.test(i.importer));
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** A plain-text table: package, raw and gzip size, zod's share, Node built-ins imported. */
export function formatBundleTable(bundles: readonly BrowserBundle[]): string {
  const rows = [
    ['package', 'raw', 'gzip', 'zod share', 'node built-ins'],
    ...bundles.map((b) => [
      b.name,
      kib(b.bytes),
      kib(b.gzipBytes),
      `${((100 * b.zodBytes) / b.bytes).toFixed(1)}%`,
      [...new Set(b.nodeImports.map((i) => i.specifier))].join(' ') || '-',
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export interface BundleCheck {
  bundles: BrowserBundle[];
  /** What a browser user would hit, one line each; empty when every bundle passes. */
  problems: string[];
}

/**
 * Bundles every browser-facing package among `installed` from `projectDir` and loads the bundles
 * in headless Chromium. Own code must not import Node built-ins; a third-party dependency may
 * reference them behind a runtime check as long as its bundle loads.
 */
export async function checkBrowserBundles(
  projectDir: string,
  installed: readonly string[],
): Promise<BundleCheck> {
  const names = BROWSER_PACKAGES.filter((n) => installed.includes(n));
  const bundles: BrowserBundle[] = [];
  for (const name of names) bundles.push(await bundleForBrowser(projectDir, name));
  const problems: string[] = [];
  for (const b of bundles) {
    if (b.includesWebgpu) problems.push(`${b.name}: the bundle contains the Node-only \`webgpu\` package`);
    for (const i of ownNodeImports(b)) {
      problems.push(
        `${b.name}: ${i.importer} imports the Node built-in '${i.specifier}' (Node-only code belongs in a /node subpath)`,
      );
    }
  }
  const loads = await loadInChromium(bundles);
  for (const [name, error] of loads) {
    if (error !== undefined) problems.push(`${name}: the browser bundle fails to load in Chromium: ${error}`);
  }
  return { bundles, problems };
}
