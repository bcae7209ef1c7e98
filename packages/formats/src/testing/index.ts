export { modelsDir, modelFile } from './models-dir.js';
