/** No WebGPU adapter or device could be obtained (no navigator.gpu, no `webgpu` package, no driver). */
export class GpuUnavailableError extends Error {
  override readonly name = 'GpuUnavailableError';
}

/** The adapter cannot grant a device limit the caller asked for. */
export class GpuLimitError extends Error {
  override readonly name = 'GpuLimitError';
  constructor(
    readonly limit: string,
    readonly requested: number,
    readonly available: number,
  ) {
    super(
      `WebGPU limit ${limit}: ${requested} was requested but the adapter allows at most ${available}; ` +
        `request less (GpuContextOptions.requiredLimits) or use an adapter with a larger limit`,
    );
  }
}

/** The device reported a validation, out-of-memory or internal error, or was lost. */
export class GpuDeviceError extends Error {
  override readonly name = 'GpuDeviceError';
}

/** A kernel was called with shapes, buffers or options that do not fit together. */
export class KernelShapeError extends Error {
  override readonly name = 'KernelShapeError';
  constructor(
    readonly kernel: string,
    message: string,
  ) {
    super(`${kernel}: ${message}`);
  }
}
