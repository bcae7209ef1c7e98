// What a result was measured on: the machine and the WebGPU adapter, recorded with every result.
import { adapterDisplayName } from '@llm/kernels';
import { availableParallelism, cpus, arch, platform, release, totalmem, type as osType } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  /** Logical cores this process may use. */
  cores: number;
  memoryBytes: number;
  /** Kernel name and release, platform and architecture, e.g. "Linux 6.1.0 (linux-x64)". */
  os: string;
  node: string;
}

export type AdapterInfo =
  | {
      available: true;
      /** As GpuContext.adapterName spells it. */
      name: string;
      vendor: string;
      architecture: string;
      device: string;
      description: string;
      features: string[];
    }
  | { available: false; reason: string };

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    os: `${osType()} ${release()} (${platform()}-${arch()})`,
    node: process.version,
  };
}

/** The default WebGPU adapter's description; asks for no device, so it costs well under a second. */
export async function adapterInfo(): Promise<AdapterInfo> {
  // Mesa's lavapipe warns on every start without it.
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  try {
    const { create } = await import('webgpu');
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (adapter === null) return { available: false, reason: 'navigator.gpu.requestAdapter() returned null' };
    const { vendor, architecture, device, description } = adapter.info;
    return {
      available: true,
      name: adapterDisplayName(adapter.info),
      vendor,
      architecture,
      device,
      description,
      features: [...adapter.features].sort(),
    };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
