import { build } from 'esbuild';

export interface BrowserBundleOptions {
  /** Imports left out of the bundle (as a page's bundler configuration leaves them out). */
  readonly external?: readonly string[];
}

/** One ES module for the browser from a TypeScript entry and everything it imports. */
export async function bundleForBrowser(entryFile: string, options: BrowserBundleOptions = {}): Promise<string> {
  const result = await build({
    ...(options.external ? { external: [...options.external] } : {}),
    entryPoints: [entryFile],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entryFile}`);
  return file.text;
}
