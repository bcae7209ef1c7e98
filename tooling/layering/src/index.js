// @ts-check
import { layeringRule } from './layering-rule.js';

/**
 * @typedef {import('./workspace.js').PackageManifest} PackageManifest
 * @typedef {import('./workspace.js').WorkspacePackage} WorkspacePackage
 */

export { APPS_LAYER, PACKAGE_LAYERS, SAME_LAYER_IMPORTS, TOOL_PACKAGES } from './layers.js';
export {
  WorkspaceError,
  findWorkspaceRoot,
  layerOf,
  listPublishablePackages,
  listWorkspacePackages,
  readManifest,
} from './workspace.js';

/** The `llm` ESLint plugin: `llm/layering`. */
export const plugin = {
  meta: { name: '@llm/layering' },
  rules: { layering: layeringRule },
};
