import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '@llm/layering';
import { createConsumerProject } from './consumer-project.js';
import { packPublishablePackages } from './pack.js';
import type { PackedPackage } from './pack.js';

export interface PackedWorkspace {
  packed: PackedPackage[];
  /** The npm project with every tarball (and `webgpu`) installed. */
  projectDir: string;
  /** The folder holding the tarballs. */
  packDir: string;
}

/**
 * Packs every publishable package and installs the tarballs, with `webgpu` (Dawn, the optional
 * peer that Node users add) and `@types/node` at the ranges the workspace develops against.
 */
export function packAndInstall(root: string): PackedWorkspace {
  const packDir = mkdtempSync(join(tmpdir(), 'llm-packs-'));
  const packed = packPublishablePackages(root, packDir);
  const kernels = readManifest(join(root, 'packages', 'kernels', 'package.json'));
  const webgpu = kernels.peerDependencies?.['webgpu'] ?? 'latest';
  // A Node user's project has Node's types; the consumer typecheck compiles against them.
  const typesNode = readManifest(join(root, 'package.json')).devDependencies?.['@types/node'] ?? 'latest';
  return {
    packed,
    packDir,
    projectDir: createConsumerProject(packed, { webgpu, '@types/node': typesNode }),
  };
}

/** Removes the tarballs and the npm project. */
export function removePackedWorkspace(workspace: PackedWorkspace): void {
  rmSync(workspace.projectDir, { recursive: true, force: true });
  rmSync(workspace.packDir, { recursive: true, force: true });
}
