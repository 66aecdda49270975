import type { AbortOptions } from '@libp2p/interface'
import type { pbStream } from '@libp2p/utils'
import { UnexpectedEndError } from '../net/errors.js'
import { MalformedRequestError, TooLargeError } from './errors.js'
import { abortError } from './worker-pool.js'

interface Decoder<T> {
  decode(bytes: Uint8Array | import('uint8arraylist').Uint8ArrayList): T
}

/**
 * Read one length-prefixed protobuf frame and map every low-level failure onto a compute error: a frame over the
 * limit is {@link TooLargeError}, one that does not decode is {@link MalformedRequestError}, a peer that hung up
 * is UnexpectedEndError, a deadline or abort is DeadlineExceededError / AbortedError.
 */
export async function readFrame<T>(
  pb: ReturnType<typeof pbStream>,
  codec: Decoder<T>,
  what: string,
  options: AbortOptions & { signal: AbortSignal },
): Promise<T> {
  try {
    return await pb.read(codec, options)
  } catch (err) {
    if (options.signal.aborted) throw abortError(options.signal)
    const name = (err as Error).name
    if (name === 'InvalidDataLengthError' || name === 'StreamBufferError') {
      throw new TooLargeError(`${what} over the size limit`, { cause: err })
    }
    if (name === 'UnexpectedEOFError' || name === 'StreamResetError' || name === 'StreamAbortedError') {
      throw new UnexpectedEndError(undefined, { cause: err })
    }
    if (name === 'AbortError') throw err
    throw new MalformedRequestError(`${what} does not decode: ${(err as Error).message}`, { cause: err })
  }
}
