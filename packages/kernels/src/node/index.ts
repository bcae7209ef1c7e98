export { yieldHostThread } from './host-thread.js';
