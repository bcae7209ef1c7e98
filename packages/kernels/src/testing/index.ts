import { afterAll } from 'vitest';
import { GpuContext } from '../runtime/gpu-context.js';
import type { GpuContextOptions } from '../runtime/gpu-context.js';

let shared: Promise<GpuContext | undefined> | undefined;

/**
 * The GPU context shared by the tests of one test file (vitest runs each file in its own
 * process), destroyed after the file's last test so the worker process can exit. Without an
 * adapter it returns undefined, for `describe.skipIf(!gpu)`; under CI=true a missing adapter is a
 * failure instead.
 */
export function gpuForTests(): Promise<GpuContext | undefined> {
  shared ??= createForTests({});
  return shared;
}

/**
 * A separate context with its own options (e.g. `disableFeatures: ['shaderF16']` to test the
 * portable paths), also destroyed after the file's tests.
 */
export function extraGpuForTests(opts: GpuContextOptions): Promise<GpuContext | undefined> {
  return createForTests(opts);
}

async function createForTests(opts: GpuContextOptions): Promise<GpuContext | undefined> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  try {
    const ctx = await GpuContext.create(opts);
    afterAll(() => ctx.destroy());
    return ctx;
  } catch (error) {
    if (process.env['CI'] === 'true') throw error;
    process.stderr.write(`no WebGPU adapter, GPU tests skipped: ${String(error)}\n`);
    return undefined;
  }
}

export { seededRandom, randomFloats, relativeL2, poisonF32, poisonU32 } from './random.js';
export { BLOCK_DTYPES_READ, GROUP_DTYPES_READ, randomBlocks } from './random-blocks.js';
