import type { Logger } from '@libp2p/interface'
import { StreamResetError } from '@libp2p/interface'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'
import type { CuttableLink, NetworkModel } from './network.js'
import { type Host, MAX_CHUNK_BYTES, Pipe, type PipeSink } from './shaped-pipe.js'

/**
 * The connections of the shaped transport (shaped-transport.ts): a link is a dialer's and a listener's
 * connection end joined by two pipes (shaped-pipe.ts), one per direction, that hold each chunk until its delivery time.
 */

export class ShapedConnection extends AbstractMultiaddrConnection {
  outbound!: Pipe
  inbound!: Pipe
  link!: Link

  sendData(data: Uint8ArrayList): SendResult {
    return this.outbound.send(data)
  }

  sendReset(err: Error): void {
    this.link.reset(this, err)
  }

  async sendClose(options?: { signal?: AbortSignal }): Promise<void> {
    this.outbound.end()
    options?.signal?.throwIfAborted()
  }

  sendPause(): void {
    this.inbound.pause()
  }

  sendResume(): void {
    this.inbound.resume()
  }
}

let linkCounter = 0

/** A connection between a dialer and a listener: two connection ends, two pipes, and the sets that track it. */
export class Link implements CuttableLink {
  readonly fromRegion: string
  readonly toRegion: string
  readonly dialerEnd: ShapedConnection
  readonly listenerEnd: ShapedConnection
  readonly #pipes: [Pipe, Pipe]
  readonly #trackers: Array<Set<Link>>
  readonly #network: NetworkModel
  #done = false

  constructor(ends: LinkEnds) {
    const { network, dialer, listener, maxQueuedBytes } = ends
    const id = linkCounter++
    this.fromRegion = dialer.host.region
    this.toRegion = listener.host.region
    this.#trackers = ends.trackers
    const ended = (): void => this.#maybeDone()
    this.dialerEnd = new ShapedConnection({
      remoteAddr: listener.remoteAddr,
      direction: 'outbound',
      log: dialer.log.newScope(`connection:${id}`),
      maxMessageSize: MAX_CHUNK_BYTES,
    })
    this.listenerEnd = new ShapedConnection({
      remoteAddr: dialer.remoteAddr,
      direction: 'inbound',
      log: listener.log.newScope(`connection:${id}`),
      maxMessageSize: MAX_CHUNK_BYTES,
    })
    const sinkBetween = (from: ShapedConnection, to: ShapedConnection): PipeSink => ({
      deliver: (data) => to.onData(data),
      end: () => {
        to.onTransportClosed()
        ended()
      },
      drain: () => from.safeDispatchEvent('drain'),
    })
    const pipe = (from: LinkEnd, to: LinkEnd, sink: PipeSink): Pipe =>
      new Pipe({
        network,
        sender: from.host,
        receiver: to.host,
        stats: network.statsFor(from.host.region, to.host.region),
        maxQueuedBytes,
        sink,
      })
    const up = pipe(dialer, listener, sinkBetween(this.dialerEnd, this.listenerEnd))
    const down = pipe(listener, dialer, sinkBetween(this.listenerEnd, this.dialerEnd))
    this.#pipes = [up, down]
    for (const [end, outbound, inbound] of [
      [this.dialerEnd, up, down],
      [this.listenerEnd, down, up],
    ] as const) {
      end.outbound = outbound
      end.inbound = inbound
      end.link = this
      end.addEventListener('close', ended)
    }
    for (const tracker of this.#trackers) tracker.add(this)
    network.trackLink(this)
    this.#network = network
  }

  /** Like a cable cut: both ends fail at once, data in flight is lost. */
  cut(err: Error): void {
    if (this.#done) return
    this.#dispose()
    this.dialerEnd.abort(err)
    this.listenerEnd.abort(err)
  }

  /** One end aborted: the other hears a reset, as from a TCP RST. */
  reset(from: ShapedConnection, err: Error): void {
    if (this.#done) return
    this.#dispose()
    const other = from === this.dialerEnd ? this.listenerEnd : this.dialerEnd
    queueMicrotask(() => other.abort(new StreamResetError(`Remote end aborted: ${err.message}`)))
  }

  #maybeDone(): void {
    const finished = (end: ShapedConnection): boolean => end.status !== 'open' && end.status !== 'closing'
    if (!this.#done && finished(this.dialerEnd) && finished(this.listenerEnd)) this.#dispose()
  }

  #dispose(): void {
    this.#done = true
    for (const pipe of this.#pipes) pipe.destroy()
    for (const tracker of this.#trackers) tracker.delete(this)
    this.#network.untrackLink(this)
  }
}

/** One side of a link: the node's network interface, what the other side sees as its address, its logger. */
export interface LinkEnd {
  host: Host
  /** The address (with `/p2p/<id>`) the other end reports as `remoteAddr`. */
  remoteAddr: Multiaddr
  log: Logger
}

export interface LinkEnds {
  network: NetworkModel
  dialer: LinkEnd
  listener: LinkEnd
  /** Bytes one direction may hold in flight before its sender is told to wait. */
  maxQueuedBytes: number
  /** Sets that hold the link while it is open (the transports' and the listener's), so a stop can cut it. */
  trackers: Array<Set<Link>>
}
