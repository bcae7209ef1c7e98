import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';

/**
 * The part of the endpoint picker's EndpointPickerConfig that deploy/kubernetes/epp.yaml uses, at
 * the release the manifests pin (v1.5.0), transcribed from the extension's Go types:
 * apix/config/v1alpha1/endpointpickerconfig_types.go (the file, decoded strictly: an unknown
 * top-level field stops the EPP) and the parameters of the plugins (decoded leniently: a misspelt
 * parameter is silently ignored, so these schemas are what catches it), from
 * pkg/epp/framework/plugins/datalayer/{source,extractor}/metrics and the scorers.
 */
const pluginRef = { type: 'object', required: ['pluginRef'], additionalProperties: false };

const engineConfig: SchemaObject = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1 },
    queuedRequestsSpec: { type: 'string' },
    runningRequestsSpec: { type: 'string' },
    kvUsageSpec: { type: 'string' },
    loraSpec: { type: 'string' },
    cacheInfoSpec: { type: 'string' },
    cacheBlockSizeLabelName: { type: 'string' },
    cacheNumBlocksLabelName: { type: 'string' },
    cacheBlockSizeSpec: { type: 'string' },
    cacheNumBlocksSpec: { type: 'string' },
  },
};

const PLUGIN_PARAMETERS: Record<string, SchemaObject> = {
  'queue-scorer': { type: 'object', additionalProperties: false, properties: {} },
  'kv-cache-utilization-scorer': { type: 'object', additionalProperties: false, properties: {} },
  'prefix-cache-scorer': {
    type: 'object',
    additionalProperties: false,
    // Handed to the approximate-prefix data producer the scorer reads from
    // (requestcontrol/dataproducer/approximateprefix/types.go).
    properties: {
      autoTune: { type: 'boolean' },
      blockSizeTokens: { type: 'integer', minimum: 1 },
      blockSize: { type: 'integer', minimum: 1 },
      maxPrefixBlocksToMatch: { type: 'integer', minimum: 1 },
      maxPrefixTokensToMatch: { type: 'integer', minimum: 1 },
      lruCapacityPerServer: { type: 'integer', minimum: 1 },
    },
  },
  'metrics-data-source': {
    type: 'object',
    additionalProperties: false,
    properties: {
      scheme: { enum: ['http', 'https'] },
      path: { type: 'string', pattern: '^/' },
      insecureSkipVerify: { type: 'boolean' },
    },
  },
  'core-metrics-extractor': {
    type: 'object',
    additionalProperties: false,
    properties: {
      engineLabelKey: { type: 'string' },
      defaultEngine: { type: 'string' },
      engineConfigs: { type: 'array', items: engineConfig },
    },
  },
};

/** The plugin types this recipe may name, each with the parameters it takes. */
export const KNOWN_PLUGIN_TYPES: readonly string[] = Object.keys(PLUGIN_PARAMETERS);

const eppConfigSchema: SchemaObject = {
  type: 'object',
  required: ['apiVersion', 'kind', 'plugins', 'schedulingProfiles'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'inference.networking.x-k8s.io/v1alpha1' },
    kind: { const: 'EndpointPickerConfig' },
    featureGates: { type: 'array', items: { type: 'string' } },
    plugins: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          type: { enum: KNOWN_PLUGIN_TYPES },
          parameters: { type: 'object' },
        },
        allOf: Object.entries(PLUGIN_PARAMETERS).map(([type, parameters]) => ({
          if: { properties: { type: { const: type } } },
          then: { properties: { parameters } },
        })),
      },
    },
    schedulingProfiles: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'plugins'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          plugins: {
            type: 'array',
            items: {
              ...pluginRef,
              properties: { pluginRef: { type: 'string' }, weight: { type: 'number' } },
            },
          },
        },
      },
    },
    dataLayer: {
      type: 'object',
      required: ['sources'],
      additionalProperties: false,
      properties: {
        sources: {
          type: 'array',
          items: {
            ...pluginRef,
            properties: {
              pluginRef: { type: 'string' },
              extractors: {
                type: 'array',
                items: { ...pluginRef, properties: { pluginRef: { type: 'string' } } },
              },
            },
          },
        },
      },
    },
  },
};

export interface EngineConfig {
  readonly name: string;
  readonly queuedRequestsSpec?: string;
  readonly runningRequestsSpec?: string;
  readonly kvUsageSpec?: string;
  readonly loraSpec?: string;
  readonly cacheInfoSpec?: string;
}

export interface EppConfig {
  readonly plugins: readonly {
    readonly name?: string;
    readonly type: string;
    readonly parameters?: Record<string, unknown>;
  }[];
  readonly schedulingProfiles: readonly {
    readonly name: string;
    readonly plugins: readonly { readonly pluginRef: string; readonly weight?: number }[];
  }[];
  readonly dataLayer?: {
    readonly sources: readonly {
      readonly pluginRef: string;
      readonly extractors?: readonly { readonly pluginRef: string }[];
    }[];
  };
}

const validate = new Ajv({ strict: true, allErrors: true }).compile(eppConfigSchema);

/** The schema's complaints about an EndpointPickerConfig; empty when it conforms. */
export function eppConfigErrors(config: unknown): readonly ErrorObject[] {
  return validate(config) ? [] : [...(validate.errors ?? [])];
}

/** A plugin's name as the EPP sees it: its `name`, or its `type` when unnamed. */
export function pluginName(plugin: EppConfig['plugins'][number]): string {
  return plugin.name ?? plugin.type;
}
