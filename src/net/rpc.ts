import type { AbortOptions, Connection, PeerId, Stream, StreamHandlerOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { RUN_ON_RELAYED_CONNECTIONS } from './constants.js'
import { PeerUnreachableError, StreamLimitError } from './errors.js'
import { createMessageStream, type MessageCodec, type MessageStream } from './message-stream.js'
import { PeerSlots } from './peer-slots.js'

/** The part of a libp2p node the RPC helpers use. */
export interface RpcNode {
  dialProtocol(
    peer: PeerId | Multiaddr | Multiaddr[],
    protocols: string | string[],
    options?: AbortOptions & { runOnLimitedConnection?: boolean },
  ): Promise<Stream>
  handle(
    protocol: string,
    handler: (stream: Stream, connection: Connection) => void | Promise<void>,
    options?: StreamHandlerOptions,
  ): Promise<void>
  unhandle(protocol: string): Promise<void>
}

/**
 * Open a stream on `protocol` to `peer`, on relayed connections too. A connection that closes while it is being
 * opened (libp2p's ConnectionClosedError: seen when a relayed connection is replaced as it comes up) is dialled
 * once more on a fresh connection; any other failure is thrown as it is.
 */
export async function openProtocolStream(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: PeerId | Multiaddr | Multiaddr[],
  protocol: string,
  options: AbortOptions = {},
): Promise<Stream> {
  const dial = () => node.dialProtocol(peer, protocol, { ...options, ...RUN_ON_RELAYED_CONNECTIONS })
  try {
    return await dial()
  } catch (err) {
    if ((err as Error).name !== 'ConnectionClosedError' || options.signal?.aborted === true) throw err
    return await dial()
  }
}

export interface CallOptions extends AbortOptions {
  /** The largest response accepted, in bytes. */
  maxResponseBytes: number
}

/** Default deadline for one request/response exchange when the caller gives no signal. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000

/**
 * Open a stream to `peer` on `protocol`, send one request, read one response, close. On any failure the stream is
 * aborted and a typed error thrown: {@link PeerUnreachableError} when the stream could not be opened,
 * {@link MalformedMessageError} for an undecodable or oversized response, {@link UnexpectedEndError} when the peer
 * hung up first.
 */
export async function callProtocol<Req, Res>(
  node: Pick<RpcNode, 'dialProtocol'>,
  peer: PeerId | Multiaddr | Multiaddr[],
  protocol: string,
  request: { codec: MessageCodec<Req>; message: Req },
  response: MessageCodec<Res>,
  options: CallOptions,
): Promise<Res> {
  const signal = options.signal ?? AbortSignal.timeout(DEFAULT_CALL_TIMEOUT_MS)
  let stream: Stream
  try {
    stream = await openProtocolStream(node, peer, protocol, { signal })
  } catch (err) {
    throw new PeerUnreachableError(`Could not open ${protocol}: ${(err as Error).message}`, { cause: err })
  }
  // pbStream buffers at most 4 MiB by default whatever maxDataLength says: size the buffer to the limit.
  const messages = createMessageStream(stream, {
    maxDataLength: options.maxResponseBytes,
    maxBufferSize: options.maxResponseBytes + 65_536,
  })
  try {
    await messages.write(request.message, request.codec, { signal })
    const res = await messages.read(response, { signal })
    await messages.close({ signal }).catch(() => stream.abort(new Error('close failed')))
    return res
  } catch (err) {
    messages.abort(err as Error)
    throw err
  }
}

export interface ServeOptions {
  /** The largest request accepted, in bytes; a larger frame resets the stream. */
  maxRequestBytes: number
  /** How long one exchange may take, from stream open to the response written. */
  timeoutMs: number
  /** Concurrent inbound streams per connection (libp2p's own limit: it resets the streams past it). */
  maxInboundStreams: number
  /**
   * Exchanges at once from one peer, over all its connections, and from all peers. A stream past either is refused
   * before anything is read: `toErrorResponse` gets a {@link StreamLimitError} and the stream is answered with what
   * it returns (reset if it returns undefined) and closed at once. Default: no limit of our own.
   */
  maxStreamsPerPeer?: number
  maxStreams?: number
  /** Log a failed exchange; the node keeps serving. */
  onError?(err: Error, connection: Connection): void
}

export interface RequestContext {
  connection: Connection
  signal: AbortSignal
}

/**
 * Register a one-request/one-response handler. Each exchange has its own deadline and a bounded request size; a
 * peer that sends garbage, too much or nothing gets its stream reset, and the node keeps serving everyone else.
 * `handler` may throw: `toErrorResponse` turns a typed error into a response with a status (when it returns
 * undefined the stream is reset instead). After the response our side closes, and a peer that does not close its
 * own within a second has the stream reset ({@link MessageStream.end}).
 */
export async function serveProtocol<Req, Res>(
  node: Pick<RpcNode, 'handle'>,
  protocol: string,
  codecs: { request: MessageCodec<Req>; response: MessageCodec<Res> },
  handler: (request: Req, context: RequestContext) => Promise<Res>,
  toErrorResponse: (err: Error) => Res | undefined,
  options: ServeOptions,
): Promise<void> {
  const slots = new PeerSlots(options.maxStreamsPerPeer ?? Infinity, options.maxStreams ?? Infinity)
  await node.handle(
    protocol,
    async (stream, connection) => {
      const signal = AbortSignal.timeout(options.timeoutMs)
      const messages = createMessageStream(stream, {
        maxDataLength: options.maxRequestBytes,
        maxBufferSize: options.maxRequestBytes + 65_536,
      })
      const peer = connection.remotePeer.toString()
      const admitted = slots.take(peer)
      try {
        let response: Res | undefined
        try {
          if (!admitted) throw new StreamLimitError(`${slots.size} ${protocol} exchanges in progress`)
          const request = await messages.read(codecs.request, { signal })
          response = await handler(request, { connection, signal })
        } catch (err) {
          response = toErrorResponse(err as Error)
          if (response === undefined) throw err
        }
        await messages.write(response, codecs.response, { signal })
        await messages.end({ signal })
      } catch (err) {
        messages.abort(err as Error)
        options.onError?.(err as Error, connection)
      } finally {
        if (admitted) slots.release(peer)
      }
    },
    { maxInboundStreams: options.maxInboundStreams, ...RUN_ON_RELAYED_CONNECTIONS },
  )
}
