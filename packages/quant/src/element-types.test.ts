import { describe, expect, it } from 'vitest';
import {
  byteLengthOf,
  bytesPerElement,
  elementType,
  elementTypeByGgmlId,
  elementTypeByGgmlName,
  elementTypes,
  findElementType,
} from './element-types.js';
import { LlmError } from './llm-error.js';

describe('element type registry', () => {
  it('gives each type one name, one ggml name and at most one ggml id', () => {
    const names = elementTypes.map((t) => t.name);
    const ids = elementTypes.flatMap((t) => (t.ggmlId === undefined ? [] : [t.ggmlId]));
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of elementTypes) expect(t.ggmlName.toLowerCase()).toBe(t.name);
  });

  it('finds a type by name, ggml name and ggml id alike', () => {
    for (const t of elementTypes) {
      expect(findElementType(t.name)).toBe(t);
      expect(elementTypeByGgmlName(t.ggmlName)).toBe(t);
      if (t.ggmlId !== undefined) expect(elementTypeByGgmlId(t.ggmlId)).toBe(t);
    }
  });

  it("matches ggml's sizes for the types the engine reads and the common quantized ones", () => {
    const expected: Record<string, [id: number, blockSize: number, bytesPerBlock: number]> = {
      f32: [0, 1, 4],
      f16: [1, 1, 2],
      bf16: [30, 1, 2],
      q4_0: [2, 32, 18],
      q8_0: [8, 32, 34],
      q4_k: [12, 256, 144],
      q6_k: [14, 256, 210],
    };
    for (const [name, [id, blockSize, bytes]] of Object.entries(expected)) {
      const t = elementType(name);
      expect([t.ggmlId, t.blockSize, t.bytesPerBlock]).toEqual([id, blockSize, bytes]);
    }
  });

  it('reads withdrawn and unknown ggml ids as unknown', () => {
    for (const id of [4, 5, 31, 38, 1000, -1]) expect(elementTypeByGgmlId(id)).toBeUndefined();
  });

  it('marks f32, f16 and the block formats the kernels repack as read by the GPU in place', () => {
    expect(elementTypes.filter((t) => t.gpuReadable).map((t) => t.name)).toEqual([
      ...['f32', 'f16', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q4_k', 'q5_k', 'q6_k'],
      ...['w2g32', 'w2g64', 'w2g128', 'w3g32', 'w3g64', 'w3g128', 'w4g32', 'w4g64', 'w4g128'],
    ]);
    expect(elementType('q4_k').kind).toBe('quantized');
    expect(elementType('bf16').kind).toBe('float');
    expect(elementType('i4').kind).toBe('integer');
  });

  it('sizes tensors by whole blocks and refuses partial blocks', () => {
    expect(byteLengthOf(elementType('f16'), 7)).toBe(14);
    expect(byteLengthOf(elementType('q8_0'), 64)).toBe(68);
    expect(bytesPerElement(elementType('i4'))).toBe(0.5);
    expect(() => byteLengthOf(elementType('q4_k'), 255)).toThrow(/255 elements of q4_k are not a whole number of 256-element blocks/);
    expect(() => byteLengthOf(elementType('f32'), -1)).toThrow(LlmError);
  });

  it('names the known types when a name is unknown', () => {
    try {
      elementType('f8');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LlmError);
      expect((error as LlmError).code).toBe('invalid_argument');
      expect((error as LlmError).message).toMatch(/unknown element type "f8"; known: f32, f16, q4_0/);
    }
  });
});
