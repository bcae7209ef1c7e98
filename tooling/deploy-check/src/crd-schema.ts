import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';
import { parse } from 'yaml';

interface CrdVersion {
  readonly name: string;
  readonly schema?: { readonly openAPIV3Schema?: SchemaObject };
}

interface Crd {
  readonly metadata: { readonly name: string; readonly annotations?: Record<string, string> };
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string };
    readonly versions: readonly CrdVersion[];
  };
}

export function readCrd(path: string): Crd {
  return parse(readFileSync(path, 'utf8')) as Crd;
}

/** The OpenAPI v3 schema of one version of a CRD. */
export function versionSchema(crd: Crd, version: string): SchemaObject {
  const schema = crd.spec.versions.find((v) => v.name === version)?.schema?.openAPIV3Schema;
  if (schema === undefined) throw new Error(`${crd.metadata.name} has no schema for version ${version}`);
  return schema;
}

/**
 * The API server prunes, or with kubectl's default strict field validation rejects, fields a
 * structural schema does not declare: an object schema with properties admits no others unless it
 * says x-kubernetes-preserve-unknown-fields or has its own additionalProperties. JSON Schema
 * admits any field, so the copy given to ajv says so explicitly.
 */
export function closeObjectSchemas(schema: SchemaObject): SchemaObject {
  const closed: SchemaObject = { ...schema };
  if (schema['properties'] !== undefined) {
    const properties: Record<string, SchemaObject> = {};
    for (const [key, value] of Object.entries(schema['properties'] as Record<string, SchemaObject>)) {
      properties[key] = closeObjectSchemas(value);
    }
    closed['properties'] = properties;
    if (
      schema['additionalProperties'] === undefined &&
      schema['x-kubernetes-preserve-unknown-fields'] !== true
    ) {
      closed['additionalProperties'] = false;
    }
  }
  if (typeof schema['additionalProperties'] === 'object') {
    closed['additionalProperties'] = closeObjectSchemas(schema['additionalProperties'] as SchemaObject);
  }
  if (typeof schema['items'] === 'object')
    closed['items'] = closeObjectSchemas(schema['items'] as SchemaObject);
  return closed;
}

/**
 * Kubernetes' extensions to OpenAPI: ajv knows them as annotations. The CEL rules of
 * x-kubernetes-validations are not evaluated here (ajv has no CEL): the tests restate them.
 */
const KUBERNETES_KEYWORDS = [
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
];

const INT32 = 2 ** 31;

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true });
  for (const keyword of KUBERNETES_KEYWORDS) ajv.addKeyword(keyword);
  // The formats of Kubernetes' OpenAPI schemas (int32, int64 on integers; date-time in status).
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -INT32 && n < INT32,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
  return ajv;
}

export type CrdValidator = (object: unknown) => readonly ErrorObject[];

/** Validates objects against one version of a CRD as the API server's schema check would. */
export function crdValidator(crd: Crd, version: string): CrdValidator {
  const validate = newAjv().compile(closeObjectSchemas(versionSchema(crd, version)));
  return (object) => (validate(object) ? [] : [...(validate.errors ?? [])]);
}

/** ajv's errors in one line each: `/spec/targetPorts/0/number must be <= 65535`. */
export function formatErrors(errors: readonly ErrorObject[]): string {
  return errors
    .map(
      (e) =>
        `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.keyword === 'additionalProperties' ? `: ${String(e.params['additionalProperty'])}` : ''}`,
    )
    .join('\n');
}

/** Every x-kubernetes-validations rule in a schema, with where it sits (`/spec/targetPorts`). */
export function celRules(schema: SchemaObject, at = ''): { readonly at: string; readonly rule: string }[] {
  const here = ((schema['x-kubernetes-validations'] as { rule: string }[] | undefined) ?? []).map((v) => ({
    at: at || '/',
    rule: v.rule,
  }));
  const nested: { at: string; rule: string }[] = [];
  for (const [key, value] of Object.entries(
    (schema['properties'] as Record<string, SchemaObject> | undefined) ?? {},
  )) {
    nested.push(...celRules(value, `${at}/${key}`));
  }
  if (typeof schema['items'] === 'object')
    nested.push(...celRules(schema['items'] as SchemaObject, `${at}/*`));
  if (typeof schema['additionalProperties'] === 'object') {
    nested.push(...celRules(schema['additionalProperties'] as SchemaObject, `${at}/*`));
  }
  return [...here, ...nested];
}
