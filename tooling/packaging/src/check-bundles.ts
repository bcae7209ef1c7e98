/**
 * `pnpm check:bundles`: packs the publishable packages, installs the tarballs in a fresh project
 * and checks each browser-facing package's browser bundle (see bundle-check.ts). Prints a size
 * table on stdout; exits 1 when a bundle fails.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findWorkspaceRoot } from '@llm/layering';
import { checkBrowserBundles, formatBundleTable } from './bundle-check.js';
import { packAndInstall, removePackedWorkspace } from './consumer-setup.js';

const root = findWorkspaceRoot(dirname(fileURLToPath(import.meta.url)));
const workspace = packAndInstall(root);
const { bundles, problems } = await checkBrowserBundles(
  workspace.projectDir,
  workspace.packed.map((p) => p.name),
).finally(() => removePackedWorkspace(workspace));
process.stdout.write(`${formatBundleTable(bundles)}\n`);
for (const problem of problems) process.stderr.write(`${problem}\n`);
process.exitCode = problems.length > 0 ? 1 : 0;
