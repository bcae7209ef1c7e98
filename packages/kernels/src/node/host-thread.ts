import { execFileSync } from 'node:child_process';
import type { GpuContext } from '../runtime/gpu-context.js';

/**
 * On a CPU adapter (lavapipe), lets the adapter's worker threads have the cores while a step runs.
 *
 * While a submit or a read-back is pending, Dawn for Node polls on the JavaScript main thread, so
 * on a machine with as many cores as lavapipe has threads one of those threads runs at half
 * speed. Moving only the main thread to SCHED_IDLE (lavapipe's threads exist already and keep
 * their policy) gives the cores to the kernels: measured on 2 cores, 110M F16 decode went from
 * 7.4-8.6 to 10.0-11.2 tokens/s. The main thread still runs whenever a core is free, i.e. between
 * steps. Does nothing on a GPU, off Linux, or without `chrt`; returns whether it applied.
 */
export function yieldHostThread(ctx: GpuContext): boolean {
  if (!ctx.isCpuAdapter || process.platform !== 'linux') return false;
  try {
    // On Linux the main thread's id is the process id, so this leaves every other thread as is.
    execFileSync('chrt', ['--idle', '--pid', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
