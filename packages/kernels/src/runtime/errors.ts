import { LlmError, type ErrorCode } from '@llm/quant';

/** No WebGPU adapter or device could be obtained (no navigator.gpu, no `webgpu` package, no driver). */
export class GpuUnavailableError extends LlmError {
  override readonly name = 'GpuUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super('unavailable', message, options);
  }
}

/** The adapter cannot grant a device limit the caller asked for. */
export class GpuLimitError extends LlmError {
  override readonly name = 'GpuLimitError';
  constructor(
    readonly limit: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(
      'resource_exhausted',
      `WebGPU limit ${limit}: ${requested} was requested but the adapter allows at most ${available}; ` +
        `request less (GpuContextOptions.requiredLimits) or use an adapter with a larger limit`,
    );
  }
}

/** The device reported a validation, out-of-memory or internal error, or was lost. */
export class GpuDeviceError extends LlmError {
  override readonly name = 'GpuDeviceError';
  /** `unavailable` for a lost device (a new context may work), `internal` otherwise. */
  constructor(message: string, code: ErrorCode = 'internal') {
    super(code, message);
  }
}

/** A kernel was called with shapes, buffers or options that do not fit together. */
export class KernelShapeError extends LlmError {
  override readonly name = 'KernelShapeError';
  constructor(
    readonly kernel: string,
    message: string,
  ) {
    super('invalid_argument', `${kernel}: ${message}`);
  }
}

/** The adapter lacks a WebGPU feature that an operation needs (or it was disabled). */
export class GpuFeatureError extends LlmError {
  override readonly name = 'GpuFeatureError';
  constructor(
    readonly feature: GPUFeatureName,
    what: string,
  ) {
    super(
      'unsupported',
      `${what} needs the WebGPU feature '${feature}', which this device does not have ` +
        `(the adapter lacks it, or GpuContextOptions.disableFeatures left it off)`,
    );
  }
}

/**
 * A row's logits-processor settings are out of range (a token id outside the vocabulary, a
 * non-finite penalty, a +Infinity or NaN bias). `row` is the row's index in the batch and `field`
 * the setting (`repetitionPenalty`, `presencePenalty`, `frequencyPenalty`, `promptTokens`,
 * `outputTokens` or `logitBias`), so a server can name the request and its parameter.
 */
export class LogitsProcessorError extends LlmError {
  override readonly name = 'LogitsProcessorError';
  constructor(
    readonly row: number,
    readonly field: string,
    message: string,
  ) {
    super('invalid_argument', `logits processors of row ${row}: ${field} ${message}`);
  }
}
