// llama.cpp in the decode benchmark, on its CPU or its Vulkan backend, through @llm/llama-cpp-peer.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPeer, type Peer, type PeerBackend } from '@llm/llama-cpp-peer';
import { progress } from './console-report.js';
import {
  decodePrompt,
  longContextPrompt,
  prefillPrompt,
  type CaseSpec,
  type DecodeEngine,
  type EngineStart,
  type Measurement,
  type OpenedCase,
} from './decode-engine.js';

interface OpenModel {
  spec: CaseSpec;
  peer: Peer;
  decodeCache: string;
  longCache: string | null;
}

export class LlamaCppDecodeEngine implements DecodeEngine {
  private readonly models: OpenModel[] = [];

  constructor(
    private readonly backend: PeerBackend,
    private readonly threads: number,
  ) {}

  start(): Promise<EngineStart> {
    // llama.cpp's runtime loads with the first model: it has nothing to measure before.
    return Promise.resolve({ details: {} });
  }

  async open(spec: CaseSpec): Promise<OpenedCase> {
    const name = `llama.cpp ${this.backend}`;
    const peer = await openPeer(spec.modelPath, { backend: this.backend, threads: this.threads });
    try {
      // The first backend to open the model prefills each context and saves it, with a line
      // saying who filled it; the others load it (a Vulkan prefill on lavapipe takes minutes).
      const fills: string[] = [];
      const cache = async (file: string, prompt: number[]): Promise<string> => {
        const path = join(spec.cacheDir, file);
        if (existsSync(path)) {
          const filler = readFileSync(`${path}.filled-by`, 'utf8');
          fills.push(`${prompt.length} tokens prefilled by ${filler}, loaded from its saved sequence state`);
        } else {
          progress(`${name}: prefilling ${prompt.length} tokens`);
          const { seconds } = await peer.prefill(prompt);
          await peer.saveCache(path);
          writeFileSync(`${path}.filled-by`, `${name} (${seconds.toFixed(1)} s)`);
          fills.push(`${prompt.length} tokens prefilled on this backend (${seconds.toFixed(1)} s)`);
        }
        return path;
      };
      const open: OpenModel = {
        spec,
        peer,
        decodeCache: await cache('decode.state', decodePrompt(spec, peer.vocabSize)),
        longCache:
          spec.longContextTokens === null
            ? null
            : await cache('long-context.state', longContextPrompt(spec.longContextTokens, peer.vocabSize)),
      };
      this.models.push(open);
      progress(`${name}: warm-up (shader compilation, first steps) on ${peer.deviceName}`);
      // Each prompt length once: llama.cpp's Vulkan backend compiles shaders per batch shape (a
      // first 128-token prefill on lavapipe took 40 s, the next ones 5).
      for (const length of spec.prefillPromptTokens)
        await peer.prefill(prefillPrompt(length, 0, peer.vocabSize));
      for (const path of [open.decodeCache, open.longCache]) {
        if (path === null) continue;
        await peer.loadCache(path);
        await peer.decodeTokensPerSecondFromCache(2);
      }
      return {
        adapter: peer.deviceName,
        cacheFill: fills.join('; '),
        details: {
          threads: this.threads,
          contextSize: peer.contextSize,
          // node-llama-cpp's default K and V cache type, as llama.cpp's.
          kvDtype: 'f16',
        },
      };
    } catch (error) {
      const at = this.models.findIndex((m) => m.peer === peer);
      if (at >= 0) this.models.splice(at, 1);
      await peer.close();
      throw error;
    }
  }

  async measure(measurement: Measurement): Promise<number> {
    const { spec, peer, decodeCache, longCache } = this.opened(measurement.model);
    switch (measurement.figure) {
      case 'decode':
        await peer.loadCache(decodeCache);
        return peer.decodeTokensPerSecondFromCache(spec.decodeTokens);
      case 'decodeAtLongContext':
        if (longCache === null) throw new Error('this model has no long context to decode from');
        await peer.loadCache(longCache);
        return peer.decodeTokensPerSecondFromCache(spec.decodeTokens);
      case 'prefill': {
        const prompt = prefillPrompt(measurement.promptTokens, measurement.run, peer.vocabSize);
        return (await peer.prefill(prompt)).tokensPerSecond;
      }
    }
  }

  async close(): Promise<void> {
    const models = this.models.splice(0);
    for (const open of models) await open.peer.close();
  }

  private opened(model: number): OpenModel {
    const open = this.models[model];
    if (open === undefined) throw new Error(`no opened model ${model}: open() it before measuring`);
    return open;
  }
}
