import { describe, expect, it } from 'vitest';
import { gpuForTests } from '../testing/index.js';
import { measureAdapter } from './adapter-roofline.js';

const gpu = await gpuForTests();

describe.skipIf(!gpu)('measureAdapter', () => {
  it('measures a positive read bandwidth and FMA rate quickly, each read sum checked', async () => {
    const started = performance.now();
    const roof = await measureAdapter(gpu!.device, { quick: true, maxBufferBytes: 4 << 20, minTimedSeconds: 0.02, runs: 2 });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(roof.bufferBytes).toBe(4 << 20);
    expect(roof.readGBps).toBeGreaterThan(0);
    expect(roof.copyGBps).toBeGreaterThan(0);
    expect(roof.gflops).toBeGreaterThan(0);
    expect(Object.keys(roof.readKernels)).toEqual(['slab-64']);
    expect(roof.readKernel).toBe('slab-64 x 256');
  });
});
