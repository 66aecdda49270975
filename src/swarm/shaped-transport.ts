import '../polyfill.js'
import { randomUUID } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import {
  type ComponentLogger,
  type Connection,
  ConnectionFailedError,
  type CreateListenerOptions,
  type DialTransportOptions,
  ListenError,
  type Listener,
  type ListenerEvents,
  type Logger,
  type PeerId,
  serviceCapabilities,
  type Transport,
  TypedEventEmitter,
  transportSymbol,
  type Upgrader,
} from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type NetworkModel, NetworkPartitionedError } from './network.js'
import { Link, type ShapedConnection } from './shaped-link.js'
import { type Host, sleep } from './shaped-pipe.js'

const DEFAULT_MAX_QUEUED_BYTES = 1_048_576

export interface ShapedTransportInit {
  /** The network every node of the swarm shares: it holds the listeners, the delays and the partitions. */
  network: NetworkModel
  /** This node's region, one of `network.regions`. */
  region: string
  /** A name from the config's `bandwidthClasses`. Default: no bandwidth limit (latency only). */
  bandwidthClass?: string
  /** The `/memory/<name>` this node's connections come from, as their listeners see it. Default `<peer id>-out`. */
  address?: string
  /** Bytes one direction of a connection may hold in flight before the sender is told to wait. Default 1 MiB. */
  maxQueuedBytes?: number
}

export interface ShapedTransportComponents {
  peerId: PeerId
  logger: ComponentLogger
}

const listenersByNetwork = new WeakMap<NetworkModel, Map<string, ShapedListener>>()

function listenersOf(network: NetworkModel): Map<string, ShapedListener> {
  let listeners = listenersByNetwork.get(network)
  if (listeners === undefined) {
    listeners = new Map()
    listenersByNetwork.set(network, listeners)
  }
  return listeners
}

/** The name in `/memory/<name>` (with an optional `/p2p/<id>`), or undefined for any other address. */
function memoryName(ma: Multiaddr): string | undefined {
  const [first, ...rest] = ma.getComponents()
  if (first?.name !== 'memory' || rest.some((c) => c.name !== 'p2p') || rest.length > 1) return undefined
  return first.value
}

class ShapedListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  readonly links = new Set<Link>()
  readonly #shutdown = new AbortController()
  #name: string | undefined

  constructor(
    readonly transport: ShapedTransport,
    private readonly upgrader: Upgrader,
  ) {
    super()
    setMaxListeners(Infinity, this.#shutdown.signal)
  }

  async listen(ma: Multiaddr): Promise<void> {
    const name = memoryName(ma) ?? randomUUID()
    const listeners = listenersOf(this.transport.network)
    if (listeners.has(name)) throw new ListenError(`Memory address /memory/${name} already in use`)
    listeners.set(name, this)
    this.#name = name
    queueMicrotask(() => this.safeDispatchEvent('listening'))
  }

  accept(end: ShapedConnection): void {
    const signal = this.upgrader.createInboundAbortSignal(this.#shutdown.signal)
    this.upgrader
      .upgradeInbound(end, { signal })
      .catch((err: Error) => end.abort(err))
      .finally(() => signal.clear())
  }

  getAddrs(): Multiaddr[] {
    return this.#name === undefined ? [] : [multiaddr(`/memory/${this.#name}`)]
  }

  updateAnnounceAddrs(): void {}

  async close(): Promise<void> {
    const listeners = listenersOf(this.transport.network)
    if (this.#name !== undefined && listeners.get(this.#name) === this) listeners.delete(this.#name)
    for (const link of [...this.links]) link.cut(new ConnectionFailedError('Shaped listener closed'))
    this.#shutdown.abort()
    queueMicrotask(() => this.safeDispatchEvent('close'))
  }
}

class ShapedTransport implements Transport {
  readonly [transportSymbol] = true as const
  readonly [Symbol.toStringTag] = 'parkbench:shaped-transport'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  readonly network: NetworkModel
  readonly host: Host
  readonly peerId: PeerId
  readonly address: string
  readonly maxQueuedBytes: number
  readonly log: Logger
  /** Every open link this node is an end of, so stopping the node leaves no timer behind. */
  readonly links = new Set<Link>()

  constructor(components: ShapedTransportComponents, init: ShapedTransportInit) {
    this.network = init.network
    init.network.assertRegion(init.region, 'shapedTransport.region')
    const bandwidth =
      init.bandwidthClass === undefined
        ? { upBps: Number.POSITIVE_INFINITY, downBps: Number.POSITIVE_INFINITY }
        : init.network.bandwidthClass(init.bandwidthClass, 'shapedTransport.bandwidthClass')
    this.host = { region: init.region, upBps: bandwidth.upBps, downBps: bandwidth.downBps, upFreeAt: 0 }
    this.peerId = components.peerId
    this.address = init.address ?? `${components.peerId}-out`
    this.maxQueuedBytes = init.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.log = components.logger.forComponent('parkbench:swarm:shaped-transport')
  }

  start(): void {}

  stop(): void {
    for (const link of [...this.links]) link.cut(new ConnectionFailedError('Shaped transport stopped'))
  }

  async dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    options.signal.throwIfAborted()
    const name = memoryName(ma)
    const find = (): ShapedListener | undefined =>
      name === undefined ? undefined : listenersOf(this.network).get(name)
    const check = (listener: ShapedListener | undefined): ShapedListener => {
      if (listener === undefined) throw new ConnectionFailedError(`No shaped listener found at ${ma}`)
      const remoteRegion = listener.transport.host.region
      if (this.network.isPartitioned(this.host.region, remoteRegion)) {
        throw new NetworkPartitionedError(`Cannot dial ${ma}: ${this.host.region} and ${remoteRegion} are partitioned`)
      }
      return listener
    }
    const target = check(find())
    // The TCP handshake: the connection is usable one RTT after the dial starts.
    await sleep(this.network.rttMs(this.host.region, target.transport.host.region), options.signal)
    const listener = check(find())
    const link = new Link({
      network: this.network,
      dialer: {
        host: this.host,
        remoteAddr: multiaddr(`/memory/${this.address}/p2p/${this.peerId}`),
        log: this.log,
      },
      listener: {
        host: listener.transport.host,
        remoteAddr: multiaddr(`/memory/${name}/p2p/${listener.transport.peerId}`),
        log: listener.transport.log,
      },
      maxQueuedBytes: this.maxQueuedBytes,
      trackers: [this.links, listener.transport.links, listener.links],
    })
    listener.accept(link.listenerEnd)
    try {
      return await options.upgrader.upgradeOutbound(link.dialerEnd, options)
    } catch (err) {
      link.dialerEnd.abort(err as Error)
      throw err
    }
  }

  createListener(options: CreateListenerOptions): Listener {
    return new ShapedListener(this, options.upgrader)
  }

  listenFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter((ma) => memoryName(ma) !== undefined)
  }

  dialFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.listenFilter(multiaddrs)
  }
}

/**
 * A libp2p transport for many nodes in one process over a simulated network: `/memory/<name>` addresses, and every
 * chunk delayed by the {@link NetworkModel}'s matrix for the two nodes' regions, with jitter, loss, bandwidth and
 * partitions. A node's uplink is shared by all its connections; its downlink limits each connection on its own.
 *
 * @example
 * ```ts
 * const network = new NetworkModel(GOSSIPSUB_INTEROP_8_REGIONS, createRandom(7).next)
 * const node = await createNode({
 *   transports: [shapedTransport({ network, region: 'europe', bandwidthClass: 'fullnode' })],
 *   listen: ['/memory/node-1'],
 * })
 * ```
 */
export function shapedTransport(init: ShapedTransportInit): (components: ShapedTransportComponents) => Transport {
  return (components) => new ShapedTransport(components, init)
}
