/** Base class of every error this package throws. */
export class LlamaCppPeerError extends Error {
  override readonly name: string = 'LlamaCppPeerError';
}

/**
 * llama.cpp could not be loaded on this machine (no prebuilt binary for the platform, or the
 * binary failed its self-test). Benchmarks catch this one and record the peer as unavailable.
 */
export class PeerUnavailableError extends LlamaCppPeerError {
  override readonly name: string = 'PeerUnavailableError';
}

/** A call's arguments cannot be evaluated: bad token ids, a prompt that does not fit the context, ... */
export class PeerInputError extends LlamaCppPeerError {
  override readonly name: string = 'PeerInputError';
}
