import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { PeerUnavailableError } from './errors.js';

/** Where llama.cpp runs a model: its CPU backend, or its Vulkan backend on one device. */
export type PeerBackend = 'cpu' | 'vulkan';

export const PEER_BACKENDS: readonly PeerBackend[] = ['cpu', 'vulkan'];

/** A loaded llama.cpp build and the device it computes on. */
export interface PeerRuntime {
  readonly llama: Llama;
  readonly backend: PeerBackend;
  /** 'CPU', or the Vulkan device's name as llama.cpp reports it (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)'). */
  readonly deviceName: string;
}

// One runtime per backend per process, loaded on first use and kept: it owns the native backend
// and its thread pools, loading it takes about a second, and it does not keep the process alive.
// The CPU and Vulkan builds are separate native addons; both load side by side in one process.
const runtimes = new Map<PeerBackend, Promise<PeerRuntime>>();

// ggml's Vulkan backend leaves out CPU-type devices (lavapipe, SwiftShader) unless this variable
// lists them, and then silently computes on its CPU backend. It is read when the backend loads.
const VULKAN_DEVICES_VARIABLE = 'GGML_VK_VISIBLE_DEVICES';

// llama.cpp reports why a load failed only through its log, and node-llama-cpp's memory estimate
// logs an expected failure for every vocabulary-only file: errors are kept here, not printed,
// and failures quote them.
const nativeErrors: string[] = [];
const NATIVE_ERRORS_KEPT = 8;

/** The last lines llama.cpp logged at error level, oldest first; clears them. */
export function takeNativeErrors(): string[] {
  return nativeErrors.splice(0, nativeErrors.length);
}

export async function sharedRuntime(backend: PeerBackend): Promise<PeerRuntime> {
  let runtime = runtimes.get(backend);
  if (runtime === undefined) {
    runtime = loadRuntime(backend);
    runtimes.set(backend, runtime);
  }
  try {
    return await runtime;
  } catch (error) {
    // Not cached: a later call tries again (e.g. after the binary package was installed).
    runtimes.delete(backend);
    throw error;
  }
}

async function loadRuntime(backend: PeerBackend): Promise<PeerRuntime> {
  // Without a choice of the caller's, the first device: on a machine whose only Vulkan device is
  // a CPU adapter, that is the one the engine's WebGPU runs on too.
  if (backend === 'vulkan') process.env[VULKAN_DEVICES_VARIABLE] ??= '0';
  const llama = await loadLlama(backend);
  if (backend === 'cpu') return { llama, backend, deviceName: 'CPU' };
  if (llama.gpu !== 'vulkan') {
    throw new PeerUnavailableError(
      `node-llama-cpp loaded its ${llama.gpu === false ? 'CPU' : llama.gpu} build instead of the Vulkan one`,
    );
  }
  const devices = await llama.getGpuDeviceNames();
  if (devices.length === 0) {
    throw new PeerUnavailableError(
      `llama.cpp's Vulkan backend found no device with ${VULKAN_DEVICES_VARIABLE}=` +
        `${process.env[VULKAN_DEVICES_VARIABLE]}; list the devices with vulkaninfo --summary and set ` +
        `${VULKAN_DEVICES_VARIABLE} to the index of the one to use`,
    );
  }
  return { llama, backend, deviceName: devices.join(', ') };
}

async function loadLlama(backend: PeerBackend): Promise<Llama> {
  try {
    return await getLlama({
      // Only the prebuilt binaries from @node-llama-cpp/<platform>[-vulkan]: never download or
      // compile llama.cpp (machines running the benchmarks may have no network and no toolchain).
      build: 'never',
      usePrebuiltBinaries: true,
      skipDownload: true,
      gpu: backend === 'vulkan' ? 'vulkan' : false,
      progressLogs: false,
      // llama.cpp warns about optional GGUF keys (e.g. a missing separator token) on every load.
      logLevel: LlamaLogLevel.error,
      logger: (_level, message) => {
        nativeErrors.push(message.trim());
        if (nativeErrors.length > NATIVE_ERRORS_KEPT) nativeErrors.shift();
      },
      // 0: a context's `threads` is taken as given instead of being capped by a shared pool.
      maxThreads: 0,
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const binaryPackage = `@node-llama-cpp/${process.platform}-${process.arch}${backend === 'vulkan' ? '-vulkan' : ''}`;
    // node-llama-cpp rejects an installed Vulkan build whose self-test finds no device the same way.
    const device =
      backend === 'vulkan'
        ? `, and check that ${VULKAN_DEVICES_VARIABLE}=${process.env[VULKAN_DEVICES_VARIABLE]} names a Vulkan device (vulkaninfo --summary)`
        : '';
    throw new PeerUnavailableError(
      `llama.cpp's ${backend} build could not be loaded on ${process.platform}-${process.arch}: ${reason}. ` +
        `Install the prebuilt binary package for this platform (${binaryPackage}) with pnpm install${device}.`,
      { cause: error },
    );
  }
}

/** An error's message followed by what llama.cpp logged since the last takeNativeErrors(). */
export function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const logged = takeNativeErrors();
  return logged.length === 0 ? message : `${message} (llama.cpp: ${logged.join('; ')})`;
}
