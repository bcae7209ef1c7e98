import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { describe, expect, it } from 'vitest';
import { findObject, loadManifests, objectsOfKind } from './manifests.js';
import { flagValue, resolvePort, selects } from './pod-spec.js';
import { MANIFESTS_DIR } from './repo-paths.js';
import { DRAIN_SECONDS, HEALTH_PATH, SERVER_PORT } from './server-contract.js';

interface InferencePool {
  metadata: { name: string };
  spec: {
    selector: { matchLabels: Record<string, string> };
    targetPorts: { number: number }[];
    endpointPickerRef: { name: string; kind?: string; group?: string; port?: { number: number } };
  };
}

const manifests = loadManifests(MANIFESTS_DIR);
const pool = findObject<InferencePool>(manifests, 'InferencePool', 'llm-serve');
const server = findObject<IDeployment>(manifests, 'Deployment', 'llm-serve');
const serverPod = server.spec!.template;
const serverContainer: IContainer = serverPod.spec!.containers[0]!;
const epp = findObject<IDeployment>(manifests, 'Deployment', 'llm-serve-epp');
const eppPod = epp.spec!.template;
const eppContainer: IContainer = eppPod.spec!.containers.find((c) => c.name === 'epp')!;
const eppArgs = eppContainer.args ?? [];

describe('the serving Deployment', () => {
  it('runs one container that listens on the port llm serve is told to use, named http', () => {
    expect(serverPod.spec!.containers).toHaveLength(1);
    expect(resolvePort(serverContainer, 'http')?.containerPort).toBe(SERVER_PORT);
    expect(Number(flagValue(serverContainer.args ?? [], '--port') ?? SERVER_PORT)).toBe(SERVER_PORT);
    expect(flagValue(serverContainer.args ?? [], '--model')).toBeTruthy();
  });

  it('selects its own pods', () => {
    expect(selects(server.spec!.selector.matchLabels!, serverPod.metadata!.labels)).toBe(true);
  });

  it('probes /health on the serving port: startup (for the model load), readiness and liveness', () => {
    for (const probe of [
      serverContainer.startupProbe,
      serverContainer.readinessProbe,
      serverContainer.livenessProbe,
    ]) {
      expect(probe?.httpGet?.path).toBe(HEALTH_PATH);
      expect(resolvePort(serverContainer, probe!.httpGet!.port)?.containerPort).toBe(SERVER_PORT);
    }
    const startup = serverContainer.startupProbe!;
    // Minutes, not seconds: a Hugging Face download and a weight upload happen before /health is 200.
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(600);
  });

  it('gives the server longer than its drain after SIGTERM before killing it', () => {
    expect(serverPod.spec!.terminationGracePeriodSeconds).toBe(40);
    expect(serverPod.spec!.terminationGracePeriodSeconds!).toBeGreaterThanOrEqual(DRAIN_SECONDS + 5);
    expect(serverContainer.lifecycle?.preStop).toBeUndefined();
  });

  it('asks for one NVIDIA GPU, with the driver capabilities that mount its Vulkan ICD', () => {
    expect(serverContainer.resources?.limits?.['nvidia.com/gpu']).toBe('1');
    expect(serverContainer.resources?.requests?.['nvidia.com/gpu']).toBe('1');
    const capabilities =
      serverContainer.env?.find((e) => e.name === 'NVIDIA_DRIVER_CAPABILITIES')?.value ?? '';
    expect(capabilities.split(',')).toEqual(expect.arrayContaining(['compute', 'utility', 'graphics']));
  });

  it('keeps the model cache on a volume at LLM_CACHE_DIR, writable by the non-root user', () => {
    const cacheDir = serverContainer.env?.find((e) => e.name === 'LLM_CACHE_DIR')?.value;
    const mount = serverContainer.volumeMounts?.find((m) => m.mountPath === cacheDir);
    expect(mount).toBeDefined();
    expect(serverPod.spec!.volumes?.map((v) => v.name)).toContain(mount!.name);
    expect(serverPod.spec!.securityContext?.runAsNonRoot).toBe(true);
    expect(serverPod.spec!.securityContext?.fsGroup).toBe(serverPod.spec!.securityContext?.runAsUser);
  });
});

describe('the InferencePool', () => {
  it("selects the serving pods and not the picker's", () => {
    expect(selects(pool.spec.selector.matchLabels, serverPod.metadata!.labels)).toBe(true);
    expect(selects(pool.spec.selector.matchLabels, eppPod.metadata!.labels)).toBe(false);
  });

  it("targets the serving container's port", () => {
    expect(pool.spec.targetPorts).toEqual([{ number: resolvePort(serverContainer, 'http')!.containerPort }]);
  });

  it("points at the EPP Service, on the Service port that reaches the EPP's gRPC (ext-proc) port", () => {
    const ref = pool.spec.endpointPickerRef;
    expect(ref.kind ?? 'Service').toBe('Service');
    expect(ref.group ?? '').toBe('');
    const service = findObject<IService>(manifests, 'Service', ref.name);
    expect(selects(service.spec!.selector!, eppPod.metadata!.labels)).toBe(true);
    const servicePort = service.spec!.ports!.find((p) => p.port === ref.port!.number)!;
    expect(servicePort).toBeDefined();
    expect(resolvePort(eppContainer, servicePort.targetPort ?? servicePort.port)?.name).toBe('grpc');
  });

  it('is the pool the EPP is told to serve', () => {
    expect(flagValue(eppArgs, '--pool-name')).toBe(pool.metadata.name);
    expect(flagValue(eppArgs, '--pool-group') ?? 'inference.networking.k8s.io').toBe(
      'inference.networking.k8s.io',
    );
  });
});

describe('the Service of the serving pods', () => {
  it('selects them and forwards to the serving port', () => {
    const service = findObject<IService>(manifests, 'Service', 'llm-serve');
    expect(selects(service.spec!.selector!, serverPod.metadata!.labels)).toBe(true);
    const port = service.spec!.ports![0]!;
    expect(resolvePort(serverContainer, port.targetPort ?? port.port)?.containerPort).toBe(SERVER_PORT);
  });
});

describe('the EPP Deployment', () => {
  it("listens on the ports of the extension's chart: gRPC 9002, gRPC health 9003, metrics 9090", () => {
    expect(Object.fromEntries((eppContainer.ports ?? []).map((p) => [p.name, p.containerPort]))).toEqual({
      grpc: 9002,
      'grpc-health': 9003,
      metrics: 9090,
    });
    expect(eppContainer.readinessProbe?.grpc?.port).toBe(9003);
    expect(eppContainer.livenessProbe?.grpc?.port).toBe(9003);
  });

  it('runs a released EPP image, pinned by tag', () => {
    expect(eppContainer.image).toBe('registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0');
  });

  it('learns its namespace, where the pool is, from the downward API', () => {
    expect(flagValue(eppArgs, '--pool-namespace')).toBeUndefined();
    expect(eppContainer.env?.find((e) => e.name === 'NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.namespace',
    );
  });

  it('reads its configuration from the ConfigMap mounted where --config-file points', () => {
    const configFile = flagValue(eppArgs, '--config-file')!;
    const mount = eppContainer.volumeMounts!.find((m) => configFile.startsWith(`${m.mountPath}/`))!;
    const volume = eppPod.spec!.volumes!.find((v) => v.name === mount.name)!;
    const configMap = findObject<{ data: Record<string, string> }>(
      manifests,
      'ConfigMap',
      volume.configMap!.name!,
    );
    expect(Object.keys(configMap.data)).toContain(configFile.slice(mount.mountPath.length + 1));
  });

  it('runs as the ServiceAccount that the Role lets watch pods and InferencePools', () => {
    const account = eppPod.spec!.serviceAccountName!;
    findObject(manifests, 'ServiceAccount', account);
    const bindings = objectsOfKind<IRoleBinding>(manifests, 'RoleBinding').filter((b) =>
      b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account),
    );
    const rules = bindings.flatMap((b) => findObject<IRole>(manifests, 'Role', b.roleRef.name).rules ?? []);
    const allows = (group: string, resource: string): boolean =>
      ['get', 'list', 'watch'].every((verb) =>
        rules.some(
          (r) => r.apiGroups?.includes(group) && r.resources?.includes(resource) && r.verbs.includes(verb),
        ),
      );
    expect(allows('', 'pods')).toBe(true);
    expect(allows('inference.networking.k8s.io', 'inferencepools')).toBe(true);
    expect(allows('inference.networking.x-k8s.io', 'inferenceobjectives')).toBe(true);
  });
});

describe('the Gateway and the HTTPRoute', () => {
  const route = findObject<IHTTPRoute>(manifests, 'HTTPRoute', 'llm-serve');

  it('route every request to the InferencePool', () => {
    const backendRefs = route.spec!.rules!.flatMap((r) => r.backendRefs ?? []);
    expect(backendRefs).toEqual([
      { group: 'inference.networking.k8s.io', kind: 'InferencePool', name: pool.metadata.name },
    ]);
  });

  it('attach the route to the Gateway in the manifests, on an HTTP listener', () => {
    for (const parent of route.spec!.parentRefs!) {
      const gateway = findObject<IGateway>(manifests, 'Gateway', parent.name);
      expect(gateway.spec.listeners.some((l) => l.protocol === 'HTTP')).toBe(true);
    }
  });
});
