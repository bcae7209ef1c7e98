import { builtinModules } from 'node:module';
import { defineConfig, type Plugin } from 'vite';

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Dependencies that name Node built-ins only in a branch taken when they run under Node (XGrammar's
 * Emscripten loader: `if (ENVIRONMENT_IS_NODE) await import('module')`): in the page those imports
 * resolve to an empty module that is never reached.
 */
const NODE_BRANCH_ONLY = ['/@mlc-ai/web-xgrammar/'];
const EMPTY_MODULE = '\0node-branch-only';

/**
 * The page and its worker run the packages' browser entry points: any Node built-in reaching the
 * bundle (fs, node:path, ...) fails the build, naming who imported it, instead of a page that
 * breaks in the browser.
 */
function noNodeBuiltins(): Plugin {
  return {
    name: 'no-node-builtins',
    enforce: 'pre',
    resolveId(source, importer) {
      if (!NODE_BUILTINS.has(source) && !NODE_BUILTINS.has(source.split('/')[0]!)) return null;
      if (importer !== undefined && NODE_BRANCH_ONLY.some((dir) => importer.includes(dir))) return EMPTY_MODULE;
      this.error(`${importer ?? 'an entry'} imports the Node built-in '${source}': browser code must not (Node-only code belongs in a /node subpath)`);
    },
    load(id) {
      return id === EMPTY_MODULE ? 'export default {};' : null;
    },
  };
}

export default defineConfig({
  // Relative asset paths: the same build works at / under `llm serve` and from any static host.
  base: './',
  plugins: [noNodeBuiltins()],
  worker: { format: 'es', plugins: () => [noNodeBuiltins()] },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2048 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
