import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { celRules, crdValidator, formatErrors, readCrd, versionSchema } from './crd-schema.js';
import { findObject, loadManifests } from './manifests.js';
import { CRDS_DIR, MANIFESTS_DIR } from './repo-paths.js';

interface InferencePool {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    targetPorts: { number: number }[];
    appProtocol?: string;
    endpointPickerRef: {
      name: string;
      kind?: string;
      group?: string;
      port?: { number: number };
      failureMode?: string;
    };
    [field: string]: unknown;
  };
}

const crd = readCrd(join(CRDS_DIR, 'inference.networking.k8s.io_inferencepools.yaml'));
const validate = crdValidator(crd, 'v1');
const errorsOf = (object: unknown): string => formatErrors(validate(object));
const pool = findObject<InferencePool>(loadManifests(MANIFESTS_DIR), 'InferencePool', 'llm-serve');
const changed = (change: (p: InferencePool) => void): InferencePool => {
  const copy = structuredClone(pool);
  change(copy);
  return copy;
};

describe('the InferencePool CRD kept in deploy/kubernetes/crds', () => {
  it('is the GA API, inference.networking.k8s.io/v1, of the release the EPP image comes from', () => {
    expect(crd.spec.group).toBe('inference.networking.k8s.io');
    expect(crd.spec.names.kind).toBe('InferencePool');
    expect(crd.metadata.annotations?.['inference.networking.k8s.io/bundle-version']).toBe('v1.5.0');
  });

  it("accepts the recipe's pool", () => {
    expect(pool.apiVersion).toBe('inference.networking.k8s.io/v1');
    expect(errorsOf(pool)).toBe('');
  });

  it('rejects a pool without an endpoint picker', () => {
    expect(
      errorsOf(changed((p) => delete (p.spec as Partial<InferencePool['spec']>).endpointPickerRef)),
    ).toMatch(/must have required property 'endpointPickerRef'/);
  });

  it('rejects a target port outside 1..65535 and an empty port list', () => {
    expect(errorsOf(changed((p) => (p.spec.targetPorts = [{ number: 70000 }])))).toMatch(
      /\/spec\/targetPorts\/0\/number must be <= 65535/,
    );
    expect(errorsOf(changed((p) => (p.spec.targetPorts = [])))).toMatch(
      /\/spec\/targetPorts must NOT have fewer than 1 items/,
    );
  });

  it('rejects an app protocol the Gateway cannot speak to the pods', () => {
    expect(errorsOf(changed((p) => (p.spec.appProtocol = 'grpc')))).toMatch(
      /\/spec\/appProtocol must be equal to one of/,
    );
  });

  it("rejects a field the schema does not declare, as kubectl's strict field validation does", () => {
    expect(errorsOf(changed((p) => (p.spec['targetPort'] = 8000)))).toMatch(
      /must NOT have additional properties: targetPort/,
    );
  });

  it('rejects a selector label value Kubernetes would not accept', () => {
    expect(errorsOf(changed((p) => (p.spec.selector.matchLabels = { app: '-llm' })))).toMatch(
      /matchLabels\/app must match pattern/,
    );
  });

  // ajv cannot run the CRD's CEL rules; these are the ones the API server applies, restated.
  it('has exactly the CEL rules this test restates', () => {
    expect(celRules(versionSchema(crd, 'v1'))).toEqual([
      { at: '/spec/endpointPickerRef', rule: "self.kind != 'Service' || has(self.port)" },
      { at: '/spec/targetPorts', rule: 'self.all(p1, self.exists_one(p2, p1.number==p2.number))' },
    ]);
  });

  it("passes the CEL rules: a port for the picker's Service, and unique target ports", () => {
    const ref = pool.spec.endpointPickerRef;
    expect((ref.kind ?? 'Service') !== 'Service' || ref.port !== undefined).toBe(true);
    const numbers = pool.spec.targetPorts.map((p) => p.number);
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
