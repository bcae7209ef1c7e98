import type * as XGrammarModule from '@mlc-ai/web-xgrammar';

/** The classes of @mlc-ai/web-xgrammar (XGrammar compiled to WebAssembly, the wasm inlined). */
export type XGrammar = Pick<typeof XGrammarModule, 'GrammarCompiler' | 'GrammarMatcher' | 'TokenizerInfo' | 'Grammar' | 'Testings'>;

let loading: Promise<XGrammar> | undefined;

/**
 * Loads @mlc-ai/web-xgrammar once. The package ships one UMD file with its wasm inlined as a data
 * URL, marked `"type": "module"`: bundlers and browsers load it as a module (it then also sets
 * `globalThis.xgrammar`), but Node evaluates it as ESM, where its Node branch's `require` and
 * `__filename` do not exist. In Node it is therefore run as the CommonJS script it is, through
 * `process.getBuiltinModule`, so that this entry imports no Node built-in and stays browser-safe.
 */
export function loadXGrammar(): Promise<XGrammar> {
  loading ??= (isNode() ? loadInNode() : loadAsModule()).catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: unknown } }).process;
  return typeof p?.versions?.node === 'string' && typeof p.getBuiltinModule === 'function';
}

async function loadAsModule(): Promise<XGrammar> {
  const module = (await import('@mlc-ai/web-xgrammar')) as Partial<typeof XGrammarModule> & { default?: XGrammar };
  const found = module.GrammarCompiler ? (module as XGrammar) : (module.default ?? (globalThis as { xgrammar?: XGrammar }).xgrammar);
  if (!found?.GrammarCompiler) throw new Error('@mlc-ai/web-xgrammar loaded but exposes no GrammarCompiler');
  return found;
}

async function loadInNode(): Promise<XGrammar> {
  const { createRequire } = process.getBuiltinModule('module');
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-xgrammar');
  // Its Node branch reads `require` and `__filename` as CommonJS would give them, while the module
  // loads and while the wasm instantiates (the first call); they are set for that time only.
  const scope = globalThis as Record<string, unknown>;
  const saved = { require: scope['require'], __filename: scope['__filename'] };
  scope['require'] = require;
  scope['__filename'] = file;
  try {
    const xg = await loadAsModule();
    (await xg.TokenizerInfo.createTokenizerInfo(['a'], 'raw')).dispose();
    return xg;
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete scope[key];
      else scope[key] = value;
    }
  }
}
