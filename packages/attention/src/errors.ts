import { KernelShapeError } from '@llm/kernels';

/**
 * An attention call whose shapes, buffers or options do not fit together or do not fit the
 * adapter's limits. A KernelShapeError, so callers that handle the kernels' shape errors also
 * handle these.
 */
export class AttentionShapeError extends KernelShapeError {
  override readonly name = 'AttentionShapeError';
}
