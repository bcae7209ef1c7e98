import { fileURLToPath } from 'node:url';

/** The repository root: this file is tooling/deploy-check/src/repo-paths.ts. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEPLOY_DIR = fileURLToPath(new URL('../../../deploy/', import.meta.url));
export const MANIFESTS_DIR = fileURLToPath(new URL('../../../deploy/kubernetes/', import.meta.url));
export const CRDS_DIR = fileURLToPath(new URL('../../../deploy/kubernetes/crds/', import.meta.url));
