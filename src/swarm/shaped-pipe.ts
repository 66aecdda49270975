import type { SendResult } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import type { LinkStatsAccumulator, NetworkModel } from './network.js'

/**
 * One direction of a shaped connection: a queue that holds each chunk until its delivery time. Both shaped
 * transports use it: the in-process one (shaped-link.ts) between two connection ends, the TCP one (shaped-tcp.ts)
 * between libp2p and a socket.
 */

/** As @libp2p/memory: the muxer's frames are cut into chunks of at most this size, each delayed on its own. */
export const MAX_CHUNK_BYTES = 65_536
const SAMPLE_EVERY_MASK = 63

/** One node's network interface: its region and the uplink its connections share. */
export interface Host {
  readonly region: string
  readonly upBps: number
  readonly downBps: number
  upFreeAt: number
}

/** Where a pipe's chunks go when they are due. */
export interface PipeSink {
  /** Every chunk due now, in order, in one list. */
  deliver(data: Uint8ArrayList): void
  /** The sender's end marker ({@link Pipe.end}) is due: nothing follows it. */
  end(): void
  /** The queue fell to half its limit after a `send` returned `canSendMore: false`. */
  drain(): void
}

export interface PipeInit {
  network: NetworkModel
  sender: Host
  receiver: Host
  stats: LinkStatsAccumulator
  /** Bytes the pipe may hold before `send` answers `canSendMore: false`. */
  maxQueuedBytes: number
  sink: PipeSink
}

interface InFlight {
  /** `null` marks the end of the stream (the sender closed). */
  readonly data: Uint8ArrayList | null
  readonly deliverAt: number
  /** `performance.now()` at send for a sampled chunk, else NaN. */
  readonly sentAt: number
}

/**
 * Each chunk gets its delivery time when it is sent (uplink serialization shared by the sender's connections,
 * propagation, jitter, loss, downlink serialization), never earlier than the chunk before it, and waits in a
 * queue; one timer serves the queue's head and delivers everything due at once.
 */
export class Pipe {
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
  readonly #init: PipeInit

  constructor(init: PipeInit) {
    this.#init = init
    this.#rttMs = init.network.rttMs(init.sender.region, init.receiver.region)
  }

  /** True once the end marker was delivered or the pipe was destroyed: nothing more will be delivered. */
  get done(): boolean {
    return this.#destroyed
  }

  send(data: Uint8ArrayList): SendResult {
    const bytes = data.byteLength
    // Cut or reset: the bytes go nowhere, as on a dead cable.
    if (this.#destroyed) return { sentBytes: bytes, canSendMore: true }
    const { network, sender, receiver, stats, maxQueuedBytes } = this.#init
    const now = performance.now()
    const propagation = this.#rttMs / 2 + network.sampleExtraDelayMs(this.#rttMs)
    const upStart = Math.max(now, sender.upFreeAt)
    const upEnd = upStart + (bytes * 8000) / sender.upBps
    sender.upFreeAt = upEnd
    // The receiver's downlink takes bits as they arrive; it is the bottleneck when it is slower than the uplink.
    const downEnd = Math.max(upStart + propagation, this.#downFreeAt) + (bytes * 8000) / receiver.downBps
    this.#downFreeAt = downEnd
    const deliverAt = Math.max(upEnd + propagation, downEnd, this.#lastDeliverAt)
    this.#lastDeliverAt = deliverAt
    const sampled = (this.#chunks++ & SAMPLE_EVERY_MASK) === 0
    stats.chunks++
    stats.bytes += bytes
    this.#queue.push({ data, deliverAt, sentAt: sampled ? now : Number.NaN })
    this.#queuedBytes += bytes
    this.#arm(deliverAt)
    const canSendMore = this.#queuedBytes < maxQueuedBytes
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

  /** Hold due chunks (the receiver cannot take them) until {@link resume}. */
  pause(): void {
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused) return
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
    const { stats, maxQueuedBytes, sink } = this.#init
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
      if (!Number.isNaN(next.sentAt)) stats.record(next.deliverAt - next.sentAt, now - next.sentAt)
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
    if (delivery !== undefined) sink.deliver(delivery)
    // The sink may have destroyed the pipe (its receiver closed) while taking the delivery.
    if (this.#destroyed) return
    if (ended) {
      this.#destroyed = true
      sink.end()
      return
    }
    if (this.#needsDrain && this.#queuedBytes <= maxQueuedBytes / 2) {
      this.#needsDrain = false
      sink.drain()
    }
    const head = this.#queue[this.#head]
    if (head !== undefined) this.#arm(head.deliverAt)
  }
}

/** Wait `ms` (a simulated handshake), or reject with the signal's reason. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  if (ms <= 0) return
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, Math.ceil(ms))
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
