// @ts-check
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { APPS_LAYER, PACKAGE_LAYERS, TOOL_PACKAGES } from './layers.js';

/**
 * @typedef {{
 *   name?: string;
 *   private?: boolean;
 *   version?: string;
 *   exports?: string | Record<string, unknown>;
 *   publishConfig?: { exports?: Record<string, unknown> };
 *   dependencies?: Record<string, string>;
 *   devDependencies?: Record<string, string>;
 *   peerDependencies?: Record<string, string>;
 *   [key: string]: unknown;
 * }} PackageManifest
 * @typedef {{ name: string; dir: string; private: boolean; manifest: PackageManifest }} WorkspacePackage
 * @typedef {number | 'tool' | undefined} Layer
 */

export class WorkspaceError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

/** @param {string} path @returns {PackageManifest} */
export function readManifest(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** The nearest folder at or above `from` holding pnpm-workspace.yaml. @param {string} from */
export function findWorkspaceRoot(from) {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) throw new WorkspaceError(`no pnpm-workspace.yaml at or above ${from}`);
  }
}

/**
 * The `packages:` globs of pnpm-workspace.yaml. Only `folder/*` and `folder` forms are used here,
 * so a line-based read is enough and keeps this free of a YAML parser.
 * @param {string} root
 */
function workspaceGlobs(root) {
  const globs = [];
  let inPackages = false;
  for (const line of readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8').split('\n')) {
    if (/^\S/.test(line)) inPackages = line.startsWith('packages:');
    const item = inPackages ? /^\s+-\s+['"]?([^'"#\s]+)/.exec(line) : null;
    if (item?.[1]) globs.push(item[1]);
  }
  return globs;
}

/** Every package of the workspace (not the root), sorted by folder. @param {string} root */
export function listWorkspacePackages(root) {
  /** @type {string[]} */
  const dirs = [];
  for (const glob of workspaceGlobs(root)) {
    if (glob.endsWith('/*')) {
      const parent = join(root, glob.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(join(parent, entry.name));
      }
    } else if (!glob.includes('*')) {
      dirs.push(join(root, glob));
    } else {
      throw new WorkspaceError(`unsupported workspace glob '${glob}' in pnpm-workspace.yaml`);
    }
  }
  /** @type {WorkspacePackage[]} */
  const packages = [];
  for (const dir of dirs.sort()) {
    const path = join(dir, 'package.json');
    if (!existsSync(path)) continue;
    const manifest = readManifest(path);
    if (!manifest.name) throw new WorkspaceError(`${path} has no name`);
    packages.push({ name: manifest.name, dir, private: manifest.private === true, manifest });
  }
  return packages;
}

/** The packages that are published: every non-private one. @param {string} root */
export function listPublishablePackages(root) {
  return listWorkspacePackages(root).filter((p) => !p.private);
}

/**
 * A package's layer: its entry in PACKAGE_LAYERS, APPS_LAYER under apps/, 'tool' for test and
 * tool code, undefined when it has none (an error for the layering rule).
 * @param {string} root @param {{ name: string; dir: string }} pkg @returns {Layer}
 */
export function layerOf(root, pkg) {
  const layer = PACKAGE_LAYERS[pkg.name];
  if (layer !== undefined) return layer;
  const top = relative(root, pkg.dir).split(sep)[0];
  if (top === 'apps') return APPS_LAYER;
  if (top === 'tooling' || top === 'bench' || top === '' || TOOL_PACKAGES.includes(pkg.name)) {
    return 'tool';
  }
  return undefined;
}
