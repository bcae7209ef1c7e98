export { openPeer } from './peer.js';
export type { DecodeSpeedOptions, Peer, PeerOptions, PrefillTiming } from './peer.js';
export { PEER_BACKENDS, type PeerBackend } from './llama-runtime.js';
export { openPeerTokenizer } from './tokenizer.js';
export type { PeerTokenizer, TokenizeOptions } from './tokenizer.js';
export { LlamaCppPeerError, PeerInputError, PeerUnavailableError } from './errors.js';
