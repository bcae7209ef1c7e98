import { join } from 'node:path';
import { describe as group, expect, it } from 'vitest';
import { crdValidator, formatErrors, readCrd } from './crd-schema.js';
import { describe, loadManifestFile, loadManifests } from './manifests.js';
import { modelValidator } from './model-validation.js';
import { CRDS_DIR, MANIFESTS_DIR } from './repo-paths.js';

const manifests = loadManifests(MANIFESTS_DIR);
const poolCrd = readCrd(join(CRDS_DIR, 'inference.networking.k8s.io_inferencepools.yaml'));
const crdValidators: Record<string, (object: unknown) => string> = {
  [`${poolCrd.spec.group}/v1 ${poolCrd.spec.names.kind}`]: (object) =>
    formatErrors(crdValidator(poolCrd, 'v1')(object)),
};

group('deploy/kubernetes manifests', () => {
  it('holds the serving Deployment and Service, the EPP, the InferencePool, the Gateway and the HTTPRoute', () => {
    const kinds = manifests.map((m) => `${m.object.kind}/${m.object.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap/llm-serve-epp',
        'Deployment/llm-serve',
        'Deployment/llm-serve-epp',
        'Gateway/inference-gateway',
        'HTTPRoute/llm-serve',
        'InferencePool/llm-serve',
        'Role/llm-serve-epp',
        'RoleBinding/llm-serve-epp',
        'Service/llm-serve',
        'Service/llm-serve-epp',
        'ServiceAccount/llm-serve-epp',
      ].sort(),
    );
  });

  it('names each object once per kind', () => {
    const keys = manifests.map((m) => `${m.object.apiVersion} ${m.object.kind} ${m.object.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('leaves the namespace to kubectl, so that the whole recipe goes into any one namespace', () => {
    for (const m of manifests) expect(m.object.metadata, describe(m)).not.toHaveProperty('namespace');
  });

  for (const manifest of manifests) {
    const { apiVersion, kind } = manifest.object;
    it(`${describe(manifest)} conforms to its schema`, () => {
      const model = modelValidator(apiVersion, kind);
      const crd = crdValidators[`${apiVersion} ${kind}`];
      expect(model ?? crd, `no schema known for ${apiVersion} ${kind}`).toBeDefined();
      if (model) expect(() => model(manifest.object)).not.toThrow();
      if (crd) expect(crd(manifest.object)).toBe('');
    });
  }
});

group('deploy/kubernetes/crds', () => {
  it('holds a CustomResourceDefinition that conforms to Kubernetes schema', () => {
    const [crd, ...rest] = loadManifestFile(
      join(CRDS_DIR, 'inference.networking.k8s.io_inferencepools.yaml'),
      'inference.networking.k8s.io_inferencepools.yaml',
    );
    expect(rest).toEqual([]);
    expect(crd!.object.kind).toBe('CustomResourceDefinition');
    expect(() =>
      modelValidator('apiextensions.k8s.io/v1', 'CustomResourceDefinition')!(crd!.object),
    ).not.toThrow();
  });
});

group('the schema checks', () => {
  it('catch a Deployment whose container port is not a number', () => {
    const deployment = manifests.find((m) => m.object.kind === 'Deployment')!.object;
    const broken = structuredClone(deployment) as unknown as {
      spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
    };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'http';
    expect(() => modelValidator('apps/v1', 'Deployment')!(broken)).toThrow(/containerPort/);
  });

  it('catch an HTTPRoute backendRef without a name', () => {
    const route = manifests.find((m) => m.object.kind === 'HTTPRoute')!.object;
    const broken = structuredClone(route) as unknown as {
      spec: { rules: { backendRefs: { name?: string }[] }[] };
    };
    delete broken.spec.rules[0]!.backendRefs[0]!.name;
    expect(() => modelValidator('gateway.networking.k8s.io/v1', 'HTTPRoute')!(broken)).toThrow(/name/);
  });
});
