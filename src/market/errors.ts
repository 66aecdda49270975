import { ParkbenchError } from '../errors.js'

/** An offer that does not decode, or whose fields are out of range. */
export class InvalidOfferError extends ParkbenchError {
  static override name = 'InvalidOfferError'
  constructor(message = 'Invalid offer', options: ErrorOptions = {}) {
    super(message, 'INVALID_OFFER', options)
  }
}

/** The offer's signature does not verify against the peer id it names. */
export class OfferSignatureError extends ParkbenchError {
  static override name = 'OfferSignatureError'
  constructor(message = 'Offer signature does not verify', options: ErrorOptions = {}) {
    super(message, 'OFFER_BAD_SIGNATURE', options)
  }
}

/** The offer names a different peer than the one that served it. */
export class OfferPeerMismatchError extends ParkbenchError {
  static override name = 'OfferPeerMismatchError'
  constructor(message = 'Offer was signed for another peer', options: ErrorOptions = {}) {
    super(message, 'OFFER_PEER_MISMATCH', options)
  }
}

/** The offer's expiry has passed. */
export class OfferExpiredError extends ParkbenchError {
  static override name = 'OfferExpiredError'
  constructor(message = 'Offer has expired', options: ErrorOptions = {}) {
    super(message, 'OFFER_EXPIRED', options)
  }
}

/** The offer's sequence is lower than one already seen from the same peer. */
export class StaleOfferError extends ParkbenchError {
  static override name = 'StaleOfferError'
  constructor(message = 'Offer is older than one already seen from this peer', options: ErrorOptions = {}) {
    super(message, 'OFFER_STALE', options)
  }
}

/** The peer answered that it is not selling right now. */
export class NoOfferError extends ParkbenchError {
  static override name = 'NoOfferError'
  constructor(message = 'The peer has no offer', options: ErrorOptions = {}) {
    super(message, 'NO_OFFER', options)
  }
}

/** The peer answered that it has as many offer exchanges open as it allows (from us, or from everyone): try later. */
export class OfferBusyError extends ParkbenchError {
  static override name = 'OfferBusyError'
  constructor(message = 'The peer is busy serving offers', options: ErrorOptions = {}) {
    super(message, 'OFFER_BUSY', options)
  }
}
