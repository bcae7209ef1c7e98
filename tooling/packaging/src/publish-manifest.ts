import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { PackageManifest, WorkspacePackage } from '@llm/layering';

// One URL for every package; `directory` tells npm where each one lives in it.
export const REPOSITORY_URL = 'git+https://github.com/llm-webgpu/llm.git';
export const NODE_RANGE = '>=20.19.0';
/** Tarball contents: the build, the sources its maps point at (tests left out), the docs. */
export const PUBLISHED_FILES = ['dist', 'src', '!src/**/*.test.ts', 'README.md', 'LICENSE'];

/** The publishConfig.exports entry for a workspace export `./src/x.ts`: `./dist/x.{d.ts,js}`. */
function publishedEntry(source: unknown): { types: string; import: string } | undefined {
  const stem = typeof source === 'string' ? /^\.\/src\/(.+)\.ts$/.exec(source)?.[1] : undefined;
  return stem === undefined ? undefined : { types: `./dist/${stem}.d.ts`, import: `./dist/${stem}.js` };
}

/**
 * The fields a publishable package needs to install on its own, as this workspace writes them.
 * Fields a package owns (name, version, description, dependencies, extra `files` entries) are
 * kept; the rest are derived from its folder and its workspace `exports`.
 */
export function expectedManifest(root: string, pkg: WorkspacePackage): PackageManifest {
  const m = pkg.manifest;
  const exports: Record<string, unknown> = {};
  for (const [key, source] of Object.entries(typeof m.exports === 'object' ? m.exports : {})) {
    exports[key] = publishedEntry(source);
  }
  const extraFiles = (Array.isArray(m['files']) ? (m['files'] as string[]) : []).filter(
    (f) => !PUBLISHED_FILES.includes(f),
  );
  const scripts = (m['scripts'] ?? {}) as Record<string, string>;
  return {
    ...m,
    license: 'MIT',
    repository: { type: 'git', url: REPOSITORY_URL, directory: relative(root, pkg.dir) },
    engines: { node: NODE_RANGE },
    sideEffects: false,
    publishConfig: { ...m.publishConfig, exports },
    files: [...PUBLISHED_FILES.slice(0, 2), ...extraFiles, ...PUBLISHED_FILES.slice(2)],
    scripts: {
      ...scripts,
      // Through turbo, so a pack reuses the cached build of the package and its dependencies.
      prepack: `turbo run build --filter=${pkg.name} --output-logs=errors-only`,
    },
  };
}

/** What keeps `pkg` from installing on its own, one line each; empty when nothing does. */
export function manifestProblems(root: string, pkg: WorkspacePackage): string[] {
  const problems: string[] = [];
  const expected = expectedManifest(root, pkg);
  for (const field of ['license', 'repository', 'engines', 'sideEffects', 'publishConfig', 'files'] as const) {
    if (JSON.stringify(pkg.manifest[field]) !== JSON.stringify(expected[field])) {
      problems.push(`"${field}" should be ${JSON.stringify(expected[field])}`);
    }
  }
  if (!(pkg.manifest['scripts'] as Record<string, string> | undefined)?.['prepack']) {
    problems.push('no "prepack" script: a pack must build first');
  }
  if (typeof pkg.manifest.description !== 'string' || pkg.manifest.description === '') {
    problems.push('no "description"');
  }
  if (!existsSync(join(pkg.dir, 'LICENSE'))) problems.push('no LICENSE file');
  const build = join(pkg.dir, 'tsconfig.build.json');
  if (!existsSync(build) || !/"declarationMap":\s*true/.test(readFileSync(build, 'utf8'))) {
    problems.push('tsconfig.build.json does not set "declarationMap": true');
  }
  return problems.map((p) => `${pkg.name}: ${p}`);
}

/**
 * Writes the derived fields into `pkg`'s package.json and copies the root LICENSE file.
 * `pnpm complete:manifests` runs it on every publishable package.
 */
export function completeManifest(root: string, pkg: WorkspacePackage, license: string): void {
  writeFileSync(join(pkg.dir, 'package.json'), `${JSON.stringify(expectedManifest(root, pkg), null, 2)}\n`);
  if (!existsSync(join(pkg.dir, 'LICENSE'))) copyFileSync(license, join(pkg.dir, 'LICENSE'));
}
