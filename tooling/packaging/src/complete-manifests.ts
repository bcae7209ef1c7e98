/**
 * `pnpm complete:manifests`: writes the fields every publishable package needs to install on its
 * own (see publish-manifest.ts) into each one's package.json, and a LICENSE where missing.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWorkspaceRoot, listPublishablePackages } from '@llm/layering';
import { completeManifest, manifestProblems } from './publish-manifest.js';

const root = findWorkspaceRoot(dirname(fileURLToPath(import.meta.url)));
for (const pkg of listPublishablePackages(root)) {
  completeManifest(root, pkg, join(root, 'LICENSE'));
}
// Re-read: what is left (a description, declarationMap) needs a person.
for (const problem of listPublishablePackages(root).flatMap((p) => manifestProblems(root, p))) {
  process.stderr.write(`${problem}\n`);
}
