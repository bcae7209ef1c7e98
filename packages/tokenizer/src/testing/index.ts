export { readVocabVectors, VOCABS_WITH_VECTORS, type VocabVector } from './vocab-vectors.js';
