// Child process of the decode benchmark: runs one engine (argv[2]: ours, llamaCppVulkan or
// llamaCppCpu; argv[3]: llama.cpp's threads) and answers EngineProcess's requests over IPC.
// A process per engine: this engine's JavaScript thread leaves the cores to lavapipe
// (yieldHostThread: SCHED_IDLE, inherited by threads created later, such as llama.cpp's), and
// no engine's threads or memory stay in another's way.
import { ENGINE_NAMES, type DecodeEngine, type EngineName } from './decode-engine.js';
import type { EngineReply, EngineRequest } from './engine-process.js';

async function createEngine(name: EngineName, threads: number): Promise<DecodeEngine> {
  if (name === 'ours') return new (await import('./ours-decode-engine.js')).OursDecodeEngine();
  const { LlamaCppDecodeEngine } = await import('./llama-cpp-decode-engine.js');
  return new LlamaCppDecodeEngine(name === 'llamaCppVulkan' ? 'vulkan' : 'cpu', threads);
}

const name = process.argv[2] as EngineName;
if (!ENGINE_NAMES.includes(name))
  throw new Error(`unknown engine ${name}; one of ${ENGINE_NAMES.join(', ')}`);
const engine = await createEngine(name, Number(process.argv[3]));

function reply(message: EngineReply): void {
  process.send!(message);
}

// Requests come one at a time: the parent awaits each reply before it sends the next.
process.on('message', (request: EngineRequest) => {
  const call = async (): Promise<unknown> => {
    switch (request.method) {
      case 'start':
        return engine.start();
      case 'open':
        return engine.open(request.argument);
      case 'measure':
        return engine.measure(request.argument);
      case 'close':
        return engine.close();
    }
  };
  call().then(
    (result) => reply({ id: request.id, result }),
    (error: unknown) =>
      reply({
        id: request.id,
        error: {
          name: error instanceof Error ? error.name : 'Error',
          message: error instanceof Error ? error.message : String(error),
        },
      }),
  );
});
// The parent is gone (finished, or killed): nothing is left to answer. A Dawn instance or
// llama.cpp's threads would keep the process alive.
process.on('disconnect', () => process.exit(0));
reply({ id: 0, result: 'ready' });
