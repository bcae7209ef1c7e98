export { openPeer } from './peer.js';
export type { DecodeSpeedOptions, Peer, PeerOptions } from './peer.js';
export { openPeerTokenizer } from './tokenizer.js';
export type { PeerTokenizer, TokenizeOptions } from './tokenizer.js';
export { LlamaCppPeerError, PeerInputError, PeerUnavailableError } from './errors.js';
