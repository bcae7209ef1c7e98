import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** The fields every Kubernetes object has; the rest is checked by the schemas. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

export interface Manifest {
  /** The file's name inside its folder. */
  readonly file: string;
  /** The document's position in its file, from 0. */
  readonly index: number;
  readonly object: KubeObject;
}

/** Where a manifest came from, for test names and messages. */
export function describe(manifest: Manifest): string {
  return `${manifest.file}#${manifest.index} ${manifest.object.kind}/${manifest.object.metadata.name}`;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return (
    typeof apiVersion === 'string' &&
    typeof kind === 'string' &&
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>)['name'] === 'string'
  );
}

/**
 * Every YAML document of every `.yaml` file directly in `dir` (not its subfolders: that is what
 * `kubectl apply -f dir` applies). Throws on a YAML error or a document that is not an object with
 * apiVersion, kind and metadata.name; empty documents (a trailing `---`) are skipped.
 */
export function loadManifests(dir: string): Manifest[] {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  return files.flatMap((file) => loadManifestFile(join(dir, file), file));
}

export function loadManifestFile(path: string, file: string): Manifest[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'), { prettyErrors: true });
  const manifests: Manifest[] = [];
  documents.forEach((document, index) => {
    if (document.errors.length > 0) {
      throw new Error(`${file}#${index}: ${document.errors.map((error) => error.message).join('; ')}`);
    }
    const value: unknown = document.toJS();
    if (value === null) return;
    if (!isKubeObject(value)) {
      throw new Error(`${file}#${index}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
    }
    manifests.push({ file, index, object: value });
  });
  return manifests;
}

/** The one object of this kind and name; throws when there is none or more than one. */
export function findObject<T>(manifests: readonly Manifest[], kind: string, name: string): T {
  const found = manifests.filter((m) => m.object.kind === kind && m.object.metadata.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} named ${name} in the manifests, found ${found.length}`);
  }
  return found[0]!.object as unknown as T;
}

/** Every object of this kind. */
export function objectsOfKind<T>(manifests: readonly Manifest[], kind: string): T[] {
  return manifests.filter((m) => m.object.kind === kind).map((m) => m.object as unknown as T);
}
