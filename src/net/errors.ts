import { ParkbenchError } from '../errors.js'

/** A peer sent a frame we could not decode, or one over the protocol's size limit. */
export class MalformedMessageError extends ParkbenchError {
  static override name = 'MalformedMessageError'
  constructor(message = 'Malformed or oversized message', options: ErrorOptions = {}) {
    super(message, 'MALFORMED_MESSAGE', options)
  }
}

/** Dialing a peer or opening a stream to it failed. */
export class PeerUnreachableError extends ParkbenchError {
  static override name = 'PeerUnreachableError'
  constructor(message = 'Peer unreachable', options: ErrorOptions = {}) {
    super(message, 'PEER_UNREACHABLE', options)
  }
}

/** The remote ended the exchange before a full answer arrived. */
export class UnexpectedEndError extends ParkbenchError {
  static override name = 'UnexpectedEndError'
  constructor(message = 'The peer closed the stream before answering', options: ErrorOptions = {}) {
    super(message, 'UNEXPECTED_END', options)
  }
}

/** The local key file exists but cannot be read as a libp2p private key. */
export class InvalidKeyFileError extends ParkbenchError {
  static override name = 'InvalidKeyFileError'
  constructor(message = 'Invalid peer key file', options: ErrorOptions = {}) {
    super(message, 'INVALID_KEY_FILE', options)
  }
}

/** A stream refused before it was read: the peer, or all peers, already have as many exchanges open as allowed. */
export class StreamLimitError extends ParkbenchError {
  static override name = 'StreamLimitError'
  constructor(message = 'Too many streams in progress', options: ErrorOptions = {}) {
    super(message, 'STREAM_LIMIT', options)
  }
}
