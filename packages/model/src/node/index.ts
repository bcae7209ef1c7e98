export { openModel, openTokenizer, type OpenModelOptions } from './open-model-file.js';
