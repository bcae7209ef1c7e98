export { modelsDir, modelFile } from './models-dir.js';
export { FakeHub, type FakeRepo, type Fault, type SeenRequest } from './fake-hub.js';
export { STORY_PROMPTS } from './story-prompts.js';
export {
  quantizationConfigJson,
  normOrder,
  quantizeRtn,
  writeIntCheckpoint,
  type IntCheckpointResult,
  type IntCheckpointScheme,
} from './int-checkpoint-writer.js';
