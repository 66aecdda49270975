import { protocolId } from '../net/constants.js'

/** Ask a peer for its current signed offer. */
export const OFFER_PROTOCOL = protocolId('offer', '1.0.0')

/** Limits of the offer protocol; they are also in protocols/README.md. */
export const OFFER_PROTOCOL_LIMITS = {
  /** An OfferRequest is empty today; anything near this is hostile. */
  maxRequestBytes: 1024,
  /** An OfferResponse holds one SignedOffer. */
  maxResponseBytes: 256 * 1024 + 64,
  /** One exchange, stream open to response written. */
  timeoutMs: 5_000,
  /** Concurrent offer streams one connection may hold open (libp2p resets the ones past it). */
  maxInboundStreams: 8,
  /**
   * Offer exchanges at once from one peer over all its connections, and from all peers; past either a stream is
   * answered BUSY before it is read. A client fetches one offer per provider per lookup; a response is up to 256 KiB.
   */
  maxStreamsPerPeer: 4,
  maxStreams: 64,
} as const
