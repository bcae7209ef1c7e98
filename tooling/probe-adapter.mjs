// Exits 0 when Dawn finds a WebGPU adapter on this machine, 1 otherwise (setup then installs lavapipe).
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const timer = setTimeout(() => process.exit(1), 20_000);
try {
  const adapter = await gpu.requestAdapter();
  clearTimeout(timer);
  process.stderr.write(adapter ? `[setup] WebGPU adapter: ${adapter.info.description || adapter.info.vendor}\n` : '[setup] no WebGPU adapter\n');
  process.exit(adapter ? 0 : 1);
} catch {
  process.exit(1);
}
