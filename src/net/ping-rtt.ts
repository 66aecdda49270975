import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'
import { RUN_ON_RELAYED_CONNECTIONS } from './constants.js'
import { MalformedMessageError } from './errors.js'
import type { RpcNode } from './rpc.js'

/** libp2p's ping protocol: the far end echoes every 32 bytes it reads until the stream closes. */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
export const PING_BYTES = 32
/** Round trips a probe makes by default: the least of them is the estimate. */
export const PING_SAMPLES = 3

/**
 * The round trip to `peer`, in ms with sub-millisecond resolution: the least of `samples` echoes of 32 random bytes
 * on ONE ping stream (libp2p's `ping()` opens a stream per echo and counts whole milliseconds). One stream costs one
 * protocol negotiation however many samples it carries; the least of them leaves the negotiation, and a busy
 * moment on either machine, out of the estimate (a busy machine adds delay, never removes it).
 *
 * Throws what the dial or stream throws, and a {@link MalformedMessageError} if an echo differs from what was sent.
 */
export async function pingRtt(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: PeerId,
  samples: number = PING_SAMPLES,
  options: AbortOptions = {},
): Promise<number> {
  const stream = await node.dialProtocol(peer, PING_PROTOCOL, { ...options, ...RUN_ON_RELAYED_CONNECTIONS })
  const bytes = byteStream(stream, { maxBufferSize: PING_BYTES })
  try {
    let best = Number.POSITIVE_INFINITY
    const data = new Uint8Array(PING_BYTES)
    for (let i = 0; i < Math.max(1, samples); i++) {
      randomFillSync(data)
      const start = performance.now()
      const [, echo] = await Promise.all([bytes.write(data, options), bytes.read({ ...options, bytes: PING_BYTES })])
      const ms = performance.now() - start
      if (!Buffer.from(echo.subarray()).equals(data))
        throw new MalformedMessageError('The ping echo differs from what was sent')
      if (ms < best) best = ms
    }
    await stream.close(options).catch(() => stream.abort(new Error('ping stream close failed')))
    return best
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
