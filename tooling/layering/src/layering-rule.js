// @ts-check
import { builtinModules } from 'node:module';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { SAME_LAYER_IMPORTS, SAME_LAYER_TEST_IMPORTS } from './layers.js';
import { findWorkspaceRoot, layerOf, listWorkspacePackages, readManifest } from './workspace.js';

/**
 * @typedef {import('./workspace.js').WorkspacePackage} WorkspacePackage
 * @typedef {{ root: string; rootPackage: WorkspacePackage; packages: WorkspacePackage[]; byName: Map<string, WorkspacePackage> }} Workspace
 */

const LAYERS_FILE = 'tooling/layering/src/layers.js';
const TEST_FILE = /\.test\.[cm]?[jt]sx?$/;

/** @type {Map<string, Workspace>} */
const workspaces = new Map();

/** @param {string} file @returns {Workspace} */
function workspaceOf(file) {
  const root = findWorkspaceRoot(dirname(file));
  let ws = workspaces.get(root);
  if (!ws) {
    // Longest folder first, so a file belongs to its innermost package.
    const packages = listWorkspacePackages(root).sort((a, b) => b.dir.length - a.dir.length);
    const manifest = readManifest(join(root, 'package.json'));
    ws = {
      root,
      rootPackage: { name: manifest.name ?? '(workspace root)', dir: root, private: true, manifest },
      packages,
      byName: new Map(packages.map((p) => [p.name, p])),
    };
    workspaces.set(root, ws);
  }
  return ws;
}

/** @param {Workspace} ws @param {string} path */
function packageAt(ws, path) {
  return ws.packages.find((p) => path === p.dir || path.startsWith(p.dir + sep));
}

/** @param {WorkspacePackage['manifest']} manifest @param {string} name */
function declares(manifest, name) {
  return [manifest.dependencies, manifest.devDependencies, manifest.peerDependencies].some(
    (deps) => deps !== undefined && Object.hasOwn(deps, name),
  );
}

/** @param {WorkspacePackage['manifest']} manifest */
function exportedSubpaths(manifest) {
  const { exports } = manifest;
  if (exports === undefined) return undefined;
  if (typeof exports === 'string') return ['.'];
  return Object.keys(exports);
}

/** @param {string} specifier */
function splitBare(specifier) {
  const parts = specifier.split('/');
  const length = specifier.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, length).join('/'), subpath: parts.slice(length).join('/') };
}

/** @type {import('eslint').Rule.RuleModule} */
export const layeringRule = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'Packages import only lower layers, declared dependencies and exported entry points',
    },
    schema: [],
    messages: {
      upward:
        '{{importer}} (layer {{importerLayer}}) must not import {{target}} (layer {{targetLayer}}): a package imports only lower layers (' +
        LAYERS_FILE +
        ')',
      sameLayer:
        '{{importer}} and {{target}} are both layer {{importerLayer}}: an import between them needs an entry in SAME_LAYER_IMPORTS (' +
        LAYERS_FILE +
        ')',
      toolImport:
        '{{importer}} (layer {{importerLayer}}) must not import {{target}}: it is test/tool code, for test files only',
      noLayer: '{{package}} has no layer: add it to PACKAGE_LAYERS in ' + LAYERS_FILE,
      undeclared:
        "{{target}} is not in {{importer}}'s dependencies, devDependencies or peerDependencies: add it to {{manifest}}",
      internals:
        "'{{specifier}}' reaches into {{target}}'s internals: import an entry point in its package.json exports ({{exports}})",
      relative:
        "'{{specifier}}' reaches into the folder of {{target}}: import '{{target}}' or one of its exported entry points instead",
    },
  },
  create(context) {
    const file = resolve(context.filename);
    const ws = workspaceOf(file);
    const importer = packageAt(ws, file) ?? ws.rootPackage;
    const importerLayer = layerOf(ws.root, importer);
    const isTest = TEST_FILE.test(basename(file));

    /** @param {import('estree').Node} node @param {string} specifier */
    function check(node, specifier) {
      if (specifier.startsWith('node:')) return;
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = packageAt(ws, resolve(dirname(file), specifier));
        if (target && target !== importer) {
          context.report({ node, messageId: 'relative', data: { specifier, target: target.name } });
        }
        return;
      }
      const { name, subpath } = splitBare(specifier);
      if (builtinModules.includes(name) || name === importer.name) return;

      // Test files may use the workspace root's tools (vitest); shipped code declares its own.
      const declared =
        declares(importer.manifest, name) || (isTest && declares(ws.rootPackage.manifest, name));
      if (!declared) {
        const manifest = join(importer.dir.slice(ws.root.length + 1), 'package.json');
        context.report({
          node,
          messageId: 'undeclared',
          data: { target: name, importer: importer.name, manifest },
        });
      }

      const target = ws.byName.get(name);
      if (!target) return;
      const subpaths = exportedSubpaths(target.manifest);
      const key = subpath ? `./${subpath}` : '.';
      const internal = /^(src|dist)(\/|$)/.test(subpath) || (subpaths && !subpaths.includes(key));
      if (internal) {
        context.report({
          node,
          messageId: 'internals',
          data: { specifier, target: name, exports: (subpaths ?? ['.']).join(', ') },
        });
      }

      if (importerLayer === 'tool') return;
      if (importerLayer === undefined) {
        context.report({ node, messageId: 'noLayer', data: { package: importer.name } });
        return;
      }
      const targetLayer = layerOf(ws.root, target);
      const data = {
        importer: importer.name,
        importerLayer: String(importerLayer),
        target: name,
        targetLayer: String(targetLayer),
      };
      if (targetLayer === undefined) {
        context.report({ node, messageId: 'noLayer', data: { package: name } });
      } else if (targetLayer === 'tool') {
        // Test files may use the test tooling (a browser harness, the llama.cpp peer).
        if (!isTest) context.report({ node, messageId: 'toolImport', data });
      } else if (targetLayer > importerLayer) {
        context.report({ node, messageId: 'upward', data });
      } else if (
        targetLayer === importerLayer &&
        ![...SAME_LAYER_IMPORTS, ...(isTest ? SAME_LAYER_TEST_IMPORTS : [])].some(
          ([from, to]) => from === importer.name && to === name,
        )
      ) {
        context.report({ node, messageId: 'sameLayer', data });
      }
    }

    /** @param {{ source?: import('estree').Node | null | undefined }} node */
    function fromSource(node) {
      const source = node.source;
      if (source?.type === 'Literal' && typeof source.value === 'string') check(source, source.value);
    }

    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      ImportExpression: fromSource,
    };
  },
};
