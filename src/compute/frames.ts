import type { Stream } from '@libp2p/interface'
import {
  createMessageStream,
  type FrameErrors,
  type MessageStream,
  type MessageStreamInit,
} from '../net/message-stream.js'
import { MalformedRequestError, TooLargeError } from './errors.js'
import { abortError } from './worker-pool.js'

/**
 * How a failed compute read becomes a compute error, so that the error caught is the status answered: a frame over
 * the limit is {@link TooLargeError}, one that does not decode {@link MalformedRequestError}, a deadline or abort
 * DeadlineExceededError / AbortedError (a peer that hung up is net's UnexpectedEndError, as everywhere).
 */
export const COMPUTE_FRAME_ERRORS: FrameErrors = {
  tooLarge: (label, cause) => new TooLargeError(`${label} over the size limit`, { cause }),
  malformed: (label, cause) => new MalformedRequestError(`${label} does not decode: ${cause.message}`, { cause }),
  aborted: (signal) => abortError(signal),
}

/** A message stream for the compute protocols: net's, with {@link COMPUTE_FRAME_ERRORS}. */
export function createComputeStream(stream: Stream, init: Omit<MessageStreamInit, 'errors'>): MessageStream {
  return createMessageStream(stream, { ...init, errors: COMPUTE_FRAME_ERRORS })
}
