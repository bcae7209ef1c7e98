import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { listPublishablePackages } from '@llm/layering';
import type { PackageManifest } from '@llm/layering';
import { PackagingError } from './packaging-error.js';

export interface PackedPackage {
  name: string;
  /** The package's folder in the workspace. */
  dir: string;
  tarball: string;
  /** package.json as it is inside the tarball. */
  manifest: PackageManifest;
  /** Every path in the tarball, without the leading `package/`. */
  files: string[];
}

/**
 * Packs every publishable package of the workspace into `destination` with `pnpm pack`, which
 * runs each package's prepack (its build) and rewrites `workspace:` ranges and publishConfig.
 */
export function packPublishablePackages(root: string, destination: string): PackedPackage[] {
  return listPublishablePackages(root).map((pkg) => {
    const before = new Set(readdirSync(destination));
    execFileSync('pnpm', ['pack', '--pack-destination', destination], {
      cwd: pkg.dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const created = readdirSync(destination).filter((f) => !before.has(f) && f.endsWith('.tgz'));
    if (created.length !== 1) {
      throw new PackagingError(`pnpm pack of ${pkg.name} produced ${created.length} tarballs`);
    }
    const tarball = join(destination, created[0]!);
    const manifestText = execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], {
      encoding: 'utf8',
    });
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((f) => f.replace(/^package\//, ''));
    return { name: pkg.name, dir: pkg.dir, tarball, manifest: JSON.parse(manifestText), files };
  });
}

/** Dependency ranges of a packed manifest that still say `workspace:` (npm cannot install them). */
export function workspaceRanges(manifest: PackageManifest): string[] {
  const left: string[] = [];
  for (const field of ['dependencies', 'devDependencies', 'peerDependencies'] as const) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (range.startsWith('workspace:')) left.push(`${field}.${name}: ${range}`);
    }
  }
  return left;
}
