// The parent's side of an engine's child process (bench/decode-engine-worker.ts): a DecodeEngine
// whose calls travel over IPC.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {
  CaseSpec,
  DecodeEngine,
  EngineName,
  EngineStart,
  Measurement,
  OpenedCase,
} from './decode-engine.js';

type EngineCall =
  | { method: 'start' }
  | { method: 'open'; argument: CaseSpec }
  | { method: 'measure'; argument: Measurement }
  | { method: 'close' };

export type EngineRequest = { id: number } & EngineCall;

export type EngineReply =
  { id: number; result: unknown } | { id: number; error: { name: string; message: string } };

/** An error the engine threw in its process, with its class name (e.g. PeerUnavailableError). */
export class EngineError extends Error {
  constructor(
    readonly engine: EngineName,
    readonly errorName: string,
    message: string,
  ) {
    super(`${engine}: ${errorName}: ${message}`);
    this.name = 'EngineError';
  }
}

const workerPath = fileURLToPath(new URL('./decode-engine-worker.ts', import.meta.url));

export class EngineProcess implements DecodeEngine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private exited: Error | undefined;

  private constructor(
    readonly name: EngineName,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (reply: EngineReply) => {
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return;
      this.pending.delete(reply.id);
      if ('error' in reply) waiting.reject(new EngineError(name, reply.error.name, reply.error.message));
      else waiting.resolve(reply.result);
    });
    child.on('exit', (code, signal) => {
      this.exited = new EngineError(name, 'ProcessExit', `its process exited (${signal ?? `code ${code}`})`);
      for (const waiting of this.pending.values()) waiting.reject(this.exited);
      this.pending.clear();
    });
  }

  /**
   * Starts the engine's process; resolves once it is ready for requests. It inherits this
   * process's Node options (tsx's loader) and writes its logs to this process's stderr.
   */
  static async spawn(name: EngineName, llamaCppThreads: number): Promise<EngineProcess> {
    const child = fork(workerPath, [name, String(llamaCppThreads)], { stdio: ['ignore', 2, 2, 'ipc'] });
    const engine = new EngineProcess(name, child);
    const ready = new Promise<unknown>((resolve, reject) => engine.pending.set(0, { resolve, reject }));
    await ready;
    return engine;
  }

  start(): Promise<EngineStart> {
    return this.request({ method: 'start' }) as Promise<EngineStart>;
  }

  open(spec: CaseSpec): Promise<OpenedCase> {
    return this.request({ method: 'open', argument: spec }) as Promise<OpenedCase>;
  }

  measure(measurement: Measurement): Promise<number> {
    return this.request({ method: 'measure', argument: measurement }) as Promise<number>;
  }

  async close(): Promise<void> {
    await this.request({ method: 'close' });
  }

  /** Ends the process (its model and runtime with it). */
  stop(): void {
    if (this.exited === undefined) this.child.kill();
  }

  private request(call: EngineCall): Promise<unknown> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, ...call } satisfies EngineRequest);
    });
  }
}
