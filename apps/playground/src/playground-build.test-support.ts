import { readdir, readFile } from 'node:fs/promises';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const appRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const distDir = join(appRoot, 'dist');

/** Builds the page as `pnpm --filter playground build` does, so the tests run what `llm serve` serves. */
export async function buildPlayground(): Promise<void> {
  const { build } = await import('vite');
  await build({ root: appRoot, configFile: join(appRoot, 'vite.config.ts'), logLevel: 'error' });
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Every file of the build as a loopback route, `/` being index.html. */
export async function distRoutes(): Promise<Record<string, { contentType: string; body: Uint8Array }>> {
  const routes: Record<string, { contentType: string; body: Uint8Array }> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        routes[`/${relative(distDir, path)}`] = {
          contentType: CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
          body: await readFile(path),
        };
      }
    }
  };
  await walk(distDir);
  routes['/'] = routes['/index.html']!;
  return routes;
}
