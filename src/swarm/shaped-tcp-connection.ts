import type { AbortOptions, MultiaddrConnection } from '@libp2p/interface'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import type { CuttableLink, NetworkModel } from './network.js'
import { type Host, MAX_CHUNK_BYTES, Pipe } from './shaped-pipe.js'

export interface ShapedTcpConnectionInit {
  /** The raw TCP connection from @libp2p/tcp, before noise and yamux. */
  inner: MultiaddrConnection
  network: NetworkModel
  /** This node's interface: its region, and the uplink every shaped connection of the node shares. */
  local: Host
  /** The listener's region, from `regionOf`. */
  remoteRegion: string
  /** Bytes one direction may hold in flight before its sender is told to wait. */
  maxQueuedBytes: number
  /** Sets that hold the connection while it is open (the transport's), so a stop can cut it. */
  trackers: Array<Set<ShapedTcpConnection>>
}

/**
 * A dialer's TCP connection with the matrix applied on its side only: what libp2p sends waits in one pipe for the
 * one-way delay before it goes to the socket, what the socket receives waits in the other before libp2p sees it,
 * so the listener (which knows nothing of regions) sees a round trip of the matrix RTT.
 *
 * The listener's bandwidth class is unknown here: only the dialer's uplink and downlink limit the connection.
 */
export class ShapedTcpConnection extends AbstractMultiaddrConnection implements CuttableLink {
  readonly fromRegion: string
  readonly toRegion: string
  readonly #inner: MultiaddrConnection
  readonly #outbound: Pipe
  readonly #inbound: Pipe
  readonly #network: NetworkModel
  readonly #trackers: Array<Set<ShapedTcpConnection>>
  /** Set by a local close: the socket's end is then ours, not news from the far side. */
  #closing = false
  /** Resolves a local close's wait for the outbound pipe to empty into the socket. */
  #flushed: (() => void) | undefined
  /** True while the socket is not read because the inbound pipe is full. */
  #socketPaused = false
  #done = false

  constructor(init: ShapedTcpConnectionInit) {
    const { inner, network, local, remoteRegion, maxQueuedBytes } = init
    super({
      remoteAddr: inner.remoteAddr,
      direction: 'outbound',
      log: inner.log.newScope('shaped'),
      maxMessageSize: MAX_CHUNK_BYTES,
    })
    this.fromRegion = local.region
    this.toRegion = remoteRegion
    this.#inner = inner
    this.#network = network
    this.#trackers = init.trackers
    // The listener is not shaped: its side of each direction costs nothing.
    const remote: Host = {
      region: remoteRegion,
      upBps: Number.POSITIVE_INFINITY,
      downBps: Number.POSITIVE_INFINITY,
      upFreeAt: 0,
    }
    this.#outbound = new Pipe({
      network,
      sender: local,
      receiver: remote,
      stats: network.statsFor(local.region, remoteRegion),
      maxQueuedBytes,
      sink: {
        deliver: (data) => this.#write(data),
        end: () => this.#flushed?.(),
        drain: () => this.safeDispatchEvent('drain'),
      },
    })
    this.#inbound = new Pipe({
      network,
      sender: remote,
      receiver: local,
      stats: network.statsFor(remoteRegion, local.region),
      maxQueuedBytes,
      sink: {
        deliver: (data) => this.onData(data),
        end: () => this.onTransportClosed(),
        drain: () => this.#readSocket(true),
      },
    })
    inner.addEventListener('message', (evt) => {
      const data = evt.data instanceof Uint8Array ? new Uint8ArrayList(evt.data) : evt.data
      // Like a full receive window: stop reading the socket until libp2p has taken half of what waits.
      if (!this.#inbound.send(data).canSendMore) this.#readSocket(false)
    })
    inner.addEventListener('drain', () => this.#outbound.resume())
    inner.addEventListener('close', (evt) => {
      if (evt.error !== undefined) {
        // A reset or socket error: like a cut, data still in flight is lost.
        this.abort(evt.error)
      } else if (!this.#closing) {
        // The far side closed: libp2p learns it once the data before the FIN has had its delay.
        this.#inbound.end()
      }
    })
    this.addEventListener('close', () => this.#dispose())
    for (const tracker of this.#trackers) tracker.add(this)
    network.trackLink(this)
  }

  /** A partition (or a stop): the connection fails at once and the socket is reset. */
  cut(err: Error): void {
    this.abort(err)
  }

  sendData(data: Uint8ArrayList): SendResult {
    return this.#outbound.send(data)
  }

  sendReset(err: Error): void {
    this.#dispose()
    this.#inner.abort(err)
  }

  async sendClose(options: AbortOptions = {}): Promise<void> {
    this.#closing = true
    if (!this.#outbound.done) {
      // Everything libp2p sent before the close still has its delay to serve before the socket may end.
      const flushed = new Promise<void>((resolve) => {
        this.#flushed = resolve
      })
      this.#outbound.end()
      await abortable(flushed, options.signal)
    }
    await this.#inner.close(options)
  }

  sendPause(): void {
    this.#inbound.pause()
  }

  sendResume(): void {
    this.#inbound.resume()
  }

  /** Pause or resume reading the socket, once each way, and only while it is open. */
  #readSocket(read: boolean): void {
    if (this.#socketPaused === !read || this.#inner.status !== 'open') return
    this.#socketPaused = !read
    if (read) this.#inner.resume()
    else this.#inner.pause()
  }

  #write(data: Uint8ArrayList): void {
    // The far side already closed the socket: the bytes go nowhere, as on TCP after a FIN without half-open.
    if (this.#inner.status !== 'open') return
    // The socket's buffer is full: hold due chunks in order until it drains.
    if (!this.#inner.send(data)) this.#outbound.pause()
  }

  #dispose(): void {
    if (this.#done) return
    this.#done = true
    this.#outbound.destroy()
    this.#inbound.destroy()
    this.#flushed?.()
    for (const tracker of this.#trackers) tracker.delete(this)
    this.#network.untrackLink(this)
  }
}

async function abortable(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
