import type { Logger } from '@libp2p/interface'
import { StreamResetError } from '@libp2p/interface'
import { AbstractMultiaddrConnection, type SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import type { CuttableLink, LinkStatsAccumulator, NetworkModel } from './network.js'

/**
 * The connections of the shaped transport (shaped-transport.ts): a link is a dialer's and a listener's
 * connection end joined by two pipes, one per direction, that hold each chunk until its delivery time.
 */

/** As @libp2p/memory: the muxer's frames are cut into chunks of at most this size, each delayed on its own. */
const MAX_CHUNK_BYTES = 65_536
const SAMPLE_EVERY_MASK = 63

/** One node's network interface: its region and the uplink its connections share. */
export interface Host {
  readonly region: string
  readonly upBps: number
  readonly downBps: number
  upFreeAt: number
}

interface InFlight {
  /** `null` marks the end of the stream (the sender closed). */
  readonly data: Uint8ArrayList | null
  readonly deliverAt: number
  /** `performance.now()` at send for a sampled chunk, else NaN. */
  readonly sentAt: number
}

/**
 * One direction of a link. Each chunk gets its delivery time when it is sent (uplink serialization shared by the
 * sender's connections, propagation, jitter, loss, downlink serialization), never earlier than the chunk before
 * it, and waits in a queue; one timer serves the queue's head and delivers everything due at once.
 */
class Pipe {
  readonly #queue: InFlight[] = []
  #head = 0
  #queuedBytes = 0
  #lastDeliverAt = 0
  #downFreeAt = 0
  #chunks = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #needsDrain = false
  #paused = false
  #destroyed = false
  readonly #rttMs: number
  from!: ShapedConnection
  to!: ShapedConnection

  constructor(
    private readonly network: NetworkModel,
    private readonly sender: Host,
    private readonly receiver: Host,
    private readonly stats: LinkStatsAccumulator,
    private readonly maxQueuedBytes: number,
    private readonly onEnd: () => void,
  ) {
    this.#rttMs = network.rttMs(sender.region, receiver.region)
  }

  send(data: Uint8ArrayList): SendResult {
    const bytes = data.byteLength
    // Cut or reset: the bytes go nowhere, as on a dead cable.
    if (this.#destroyed) return { sentBytes: bytes, canSendMore: true }
    const now = performance.now()
    const propagation = this.#rttMs / 2 + this.network.sampleExtraDelayMs(this.#rttMs)
    const upStart = Math.max(now, this.sender.upFreeAt)
    const upEnd = upStart + (bytes * 8000) / this.sender.upBps
    this.sender.upFreeAt = upEnd
    // The receiver's downlink takes bits as they arrive; it is the bottleneck when it is slower than the uplink.
    const downEnd = Math.max(upStart + propagation, this.#downFreeAt) + (bytes * 8000) / this.receiver.downBps
    this.#downFreeAt = downEnd
    const deliverAt = Math.max(upEnd + propagation, downEnd, this.#lastDeliverAt)
    this.#lastDeliverAt = deliverAt
    const sampled = (this.#chunks++ & SAMPLE_EVERY_MASK) === 0
    this.stats.chunks++
    this.stats.bytes += bytes
    this.#queue.push({ data, deliverAt, sentAt: sampled ? now : Number.NaN })
    this.#queuedBytes += bytes
    this.#arm(deliverAt)
    const canSendMore = this.#queuedBytes < this.maxQueuedBytes
    if (!canSendMore) this.#needsDrain = true
    return { sentBytes: bytes, canSendMore }
  }

  /** The sender closed: the far end learns it once the data before it has arrived. */
  end(): void {
    if (this.#destroyed) return
    const deliverAt = Math.max(performance.now() + this.#rttMs / 2, this.#lastDeliverAt)
    this.#lastDeliverAt = deliverAt
    this.#queue.push({ data: null, deliverAt, sentAt: Number.NaN })
    this.#arm(deliverAt)
  }

  pause(): void {
    this.#paused = true
  }

  resume(): void {
    this.#paused = false
    if (this.#timer === undefined) this.#flush()
  }

  destroy(): void {
    this.#destroyed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#queue.length = 0
    this.#head = 0
    this.#queuedBytes = 0
  }

  #arm(at: number): void {
    if (this.#timer !== undefined || this.#destroyed || this.#paused) return
    // Delivery times only grow on a pipe, so an armed timer is never later than `at`.
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, Math.ceil(at - performance.now())))
  }

  #flush(): void {
    this.#timer = undefined
    if (this.#destroyed || this.#paused) return
    const now = performance.now()
    let first: Uint8ArrayList | undefined
    let batch: Uint8ArrayList | undefined
    let ended = false
    while (this.#head < this.#queue.length) {
      const next = this.#queue[this.#head] as InFlight
      // A timer can fire up to a millisecond early by performance.now(): wait again rather than deliver early.
      if (next.deliverAt > now) break
      this.#head++
      if (next.data === null) {
        ended = true
        break
      }
      this.#queuedBytes -= next.data.byteLength
      if (!Number.isNaN(next.sentAt)) this.stats.record(next.deliverAt - next.sentAt, now - next.sentAt)
      if (first === undefined) first = next.data
      else {
        batch ??= new Uint8ArrayList(first)
        batch.append(next.data)
      }
    }
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else if (this.#head > 1024) {
      this.#queue.splice(0, this.#head)
      this.#head = 0
    }
    const delivery = batch ?? first
    if (delivery !== undefined) this.to.onData(delivery)
    if (ended) {
      this.#destroyed = true
      this.to.onTransportClosed()
      this.onEnd()
      return
    }
    if (this.#needsDrain && this.#queuedBytes <= this.maxQueuedBytes / 2) {
      this.#needsDrain = false
      this.from.safeDispatchEvent('drain')
    }
    const head = this.#queue[this.#head]
    if (head !== undefined) this.#arm(head.deliverAt)
  }
}

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
    const stats = (from: Host, to: Host): LinkStatsAccumulator => network.statsFor(from.region, to.region)
    const up = new Pipe(network, dialer.host, listener.host, stats(dialer.host, listener.host), maxQueuedBytes, ended)
    const down = new Pipe(network, listener.host, dialer.host, stats(listener.host, dialer.host), maxQueuedBytes, ended)
    this.#pipes = [up, down]
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
    for (const [end, outbound, inbound] of [
      [this.dialerEnd, up, down],
      [this.listenerEnd, down, up],
    ] as const) {
      end.outbound = outbound
      end.inbound = inbound
      end.link = this
      outbound.from = end
      inbound.to = end
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
