export { SimulatedEngine, referenceNextToken, type SimulatedEngineOptions } from './simulated-engine.js';
