import { describe, expect, it } from 'vitest';
import { dtypeBytes, isOneOf, KV_DTYPES } from './dtype-sets.js';
import { ERROR_CODES, errorCodeOf, LlmError } from './llm-error.js';

class ShapeError extends LlmError {
  override name = 'ShapeError';
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

describe('LlmError', () => {
  it('carries its code through subclasses', () => {
    const error = new ShapeError('rows must be positive');
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('invalid_argument');
    expect(errorCodeOf(error)).toBe('invalid_argument');
    expect(error.name).toBe('ShapeError');
  });

  it('reads the code of an error from another copy of the package by its shape', () => {
    const foreign = Object.assign(new Error('no adapter'), { code: 'unavailable' });
    expect(errorCodeOf(foreign)).toBe('unavailable');
  });

  it('calls everything else internal', () => {
    expect(errorCodeOf(new RangeError('offset'))).toBe('internal');
    expect(errorCodeOf(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('internal');
    expect(errorCodeOf('a string')).toBe('internal');
    expect(ERROR_CODES).toContain('resource_exhausted');
  });
});

describe('dtype sets', () => {
  it('sizes each KV dtype from the registry', () => {
    expect(KV_DTYPES.map(dtypeBytes)).toEqual([4, 2, 2, 1, 0.5]);
  });

  it('narrows strings to a set', () => {
    expect(isOneOf(KV_DTYPES, 'f16')).toBe(true);
    expect(isOneOf(KV_DTYPES, 'q4_0')).toBe(false);
  });
});
