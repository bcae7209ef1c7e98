export { modelsDir, modelFile } from './models-dir.js';
export { FakeHub, type FakeRepo, type Fault, type SeenRequest } from './fake-hub.js';
