// @ts-check
import { layeringRule } from './layering-rule.js';

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
