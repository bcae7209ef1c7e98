import { describe, expect, it } from 'vitest';
import { blockCodecTypes } from './codecs/block-codecs.js';
import { BLOCK_DTYPES, GROUP_DTYPES, MATRIX_DTYPES, TENSOR_DTYPES, WEIGHT_DTYPES } from './dtype-sets.js';
import { elementType } from './element-types.js';

describe('dtype sets', () => {
  it('names exactly the block and group types that have a codec as checkpoint tensor types', () => {
    expect([...BLOCK_DTYPES, ...GROUP_DTYPES]).toEqual([...blockCodecTypes]);
    expect([...TENSOR_DTYPES]).toEqual([...WEIGHT_DTYPES, ...BLOCK_DTYPES, ...GROUP_DTYPES]);
  });

  it('lists as GPU matrix types exactly the types the registry marks as read in place', () => {
    for (const name of MATRIX_DTYPES) expect(elementType(name).gpuReadable).toBe(true);
    for (const name of [...BLOCK_DTYPES, ...GROUP_DTYPES]) {
      expect(elementType(name).gpuReadable).toBe((MATRIX_DTYPES as readonly string[]).includes(name));
    }
  });
});
