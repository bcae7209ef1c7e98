import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWorkspaceRoot, listPublishablePackages } from '@llm/layering';
import { describe, expect, it } from 'vitest';
import { expectedManifest, manifestProblems } from './publish-manifest.js';

const root = findWorkspaceRoot(dirname(fileURLToPath(import.meta.url)));

describe('publishable package manifests', () => {
  it.each(listPublishablePackages(root).map((p) => [p.name, p] as const))(
    '%s has every field it needs to install on its own (pnpm complete:manifests writes them)',
    (_name, pkg) => {
      expect(manifestProblems(root, pkg)).toEqual([]);
    },
  );

  it('derives the published entry points from the workspace exports', () => {
    const manifest = expectedManifest(root, {
      name: '@llm/example',
      dir: `${root}/packages/example`,
      private: false,
      manifest: { name: '@llm/example', exports: { '.': './src/index.ts', './node': './src/node/index.ts' } },
    });
    expect(manifest.publishConfig?.exports).toEqual({
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './node': { types: './dist/node/index.d.ts', import: './dist/node/index.js' },
    });
    expect(manifest['repository']).toEqual(expect.objectContaining({ directory: 'packages/example' }));
  });
});
