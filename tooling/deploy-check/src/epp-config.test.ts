import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatErrors } from './crd-schema.js';
import {
  eppConfigErrors,
  KNOWN_PLUGIN_TYPES,
  pluginName,
  type EngineConfig,
  type EppConfig,
} from './epp-config.js';
import { findObject, loadManifests } from './manifests.js';
import { flagValue } from './pod-spec.js';
import { MANIFESTS_DIR } from './repo-paths.js';
import { METRICS_PATH, SERVER_METRICS } from './server-contract.js';

const manifests = loadManifests(MANIFESTS_DIR);
const epp = findObject<IDeployment>(manifests, 'Deployment', 'llm-serve-epp');
const eppArgs = epp.spec!.template.spec!.containers.find((c) => c.name === 'epp')!.args ?? [];
const configFile = flagValue(eppArgs, '--config-file')!;
const configMap = findObject<{ data: Record<string, string> }>(manifests, 'ConfigMap', 'llm-serve-epp');
const configText = configMap.data[configFile.split('/').at(-1)!]!;
const config = parse(configText) as EppConfig;
const extractor = config.plugins.find((p) => p.type === 'core-metrics-extractor')!;
const engines = (extractor.parameters?.['engineConfigs'] ?? []) as EngineConfig[];
const defaultEngine = (extractor.parameters?.['defaultEngine'] as string | undefined) ?? 'vllm';
const engine = engines.find((e) => e.name === defaultEngine)!;

describe('the EPP configuration', () => {
  it('conforms to EndpointPickerConfig as the pinned release decodes it', () => {
    expect(formatErrors(eppConfigErrors(config))).toBe('');
  });

  it('is checked strictly: a misspelt metric field or an unknown plugin is an error', () => {
    const misspelt = structuredClone(config) as unknown as {
      plugins: { type: string; parameters?: { engineConfigs?: object[] } }[];
    };
    misspelt.plugins.find((p) => p.type === 'core-metrics-extractor')!.parameters!.engineConfigs![0] = {
      name: 'vllm',
      kvUsageSpecs: SERVER_METRICS.kvCacheUsage,
    };
    expect(formatErrors(eppConfigErrors(misspelt))).toMatch(/additional properties: kvUsageSpecs/);
    expect(formatErrors(eppConfigErrors({ ...config, plugins: [{ type: 'lora-affinity-scorer' }] }))).toMatch(
      /\/plugins\/0\/type must be equal to one of/,
    );
  });

  it('scores pods on the queue, the KV cache and the prefix cache', () => {
    const profile = config.schedulingProfiles.find((p) => p.name === 'default')!;
    const scorers = profile.plugins.map(
      (p) => config.plugins.find((q) => pluginName(q) === p.pluginRef)?.type,
    );
    expect(scorers).toEqual(['queue-scorer', 'kv-cache-utilization-scorer', 'prefix-cache-scorer']);
  });

  it('refers only to plugins it declares', () => {
    const names = new Set(config.plugins.map(pluginName));
    const refs = [
      ...config.schedulingProfiles.flatMap((p) => p.plugins.map((q) => q.pluginRef)),
      ...(config.dataLayer?.sources ?? []).flatMap((s) => [
        s.pluginRef,
        ...(s.extractors ?? []).map((e) => e.pluginRef),
      ]),
    ];
    for (const ref of refs) expect(names, ref).toContain(ref);
    expect(new Set(config.plugins.map(pluginName)).size).toBe(config.plugins.length);
    expect(KNOWN_PLUGIN_TYPES).toContain('core-metrics-extractor');
  });

  it('scrapes /metrics over plain HTTP, as llm serve exposes it', () => {
    const source = config.plugins.find((p) => p.type === 'metrics-data-source')!;
    expect(source.parameters).toMatchObject({ scheme: 'http', path: METRICS_PATH });
    expect(config.dataLayer?.sources).toEqual([
      { pluginRef: pluginName(source), extractors: [{ pluginRef: pluginName(extractor) }] },
    ]);
  });

  it('reads the queue and KV-cache usage under the vLLM names llm serve exposes', () => {
    expect(engine.queuedRequestsSpec).toBe(SERVER_METRICS.queuedRequests);
    expect(engine.kvUsageSpec).toBe(SERVER_METRICS.kvCacheUsage);
    expect(engine.runningRequestsSpec).toBe(SERVER_METRICS.runningRequests);
    expect(engine.cacheInfoSpec).toBe(SERVER_METRICS.cacheInfo);
  });

  it('does not scrape a LoRA metric, which llm serve has no adapters for', () => {
    expect(engine.loraSpec).toBe('');
  });

  it('leaves out the metric-name flags the pinned EPP refuses (since v1.4 they live in engineConfigs)', () => {
    for (const flag of [
      '--total-queued-requests-metric',
      '--total-running-requests-metric',
      '--kv-cache-usage-percentage-metric',
      '--lora-info-metric',
      '--cache-info-metric',
    ]) {
      expect(
        eppArgs.some((a) => a === flag || a.startsWith(`${flag}=`)),
        flag,
      ).toBe(false);
    }
  });
});
