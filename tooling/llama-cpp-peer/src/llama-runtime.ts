import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { PeerUnavailableError } from './errors.js';

// One Llama instance per process, loaded on first use and kept: it owns the native backend and
// its thread pools, loading it takes about a second, and it does not keep the process alive.
let shared: Promise<Llama> | undefined;

// llama.cpp reports why a load failed only through its log, and node-llama-cpp's memory estimate
// logs an expected failure for every vocabulary-only file: errors are kept here, not printed,
// and failures quote them.
const nativeErrors: string[] = [];
const NATIVE_ERRORS_KEPT = 8;

/** The last lines llama.cpp logged at error level, oldest first; clears them. */
export function takeNativeErrors(): string[] {
  return nativeErrors.splice(0, nativeErrors.length);
}

export async function sharedLlama(): Promise<Llama> {
  shared ??= loadLlama();
  try {
    return await shared;
  } catch (error) {
    // Not cached: a later call tries again (e.g. after the binary package was installed).
    shared = undefined;
    throw error;
  }
}

async function loadLlama(): Promise<Llama> {
  try {
    return await getLlama({
      // Only the prebuilt CPU binary from @node-llama-cpp/<platform>: never download or compile
      // llama.cpp (machines running the benchmarks may have no network and no toolchain).
      build: 'never',
      usePrebuiltBinaries: true,
      skipDownload: true,
      gpu: false,
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
    throw new PeerUnavailableError(
      `llama.cpp could not be loaded on ${process.platform}-${process.arch}: ${reason}. ` +
        'Install the prebuilt binary package for this platform (@node-llama-cpp/' +
        `${process.platform}-${process.arch}) with pnpm install.`,
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
