export { modelsDir, modelFile } from './models-dir.js';
export { readVocabVectors, VOCABS_WITH_VECTORS, type VocabVector } from './vocab-vectors.js';
