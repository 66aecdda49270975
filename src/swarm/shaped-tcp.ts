import {
  type Connection,
  ConnectionFailedError,
  type CreateListenerOptions,
  type DialTransportOptions,
  type Listener,
  type MultiaddrConnection,
  serviceCapabilities,
  type Transport,
  transportSymbol,
  type Upgrader,
  type UpgraderOptions,
} from '@libp2p/interface'
import { type TCPComponents, type TCPOptions, tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type NetworkModel, NetworkPartitionedError } from './network.js'
import { type Host, sleep } from './shaped-pipe.js'
import { ShapedTcpConnection } from './shaped-tcp-connection.js'

const DEFAULT_MAX_QUEUED_BYTES = 1_048_576

export interface ShapedTcpInit {
  /**
   * This process's copy of the swarm's network, built from the same config in every process: it gives the delays
   * and holds the partitions this process knows of.
   */
  network: NetworkModel
  /** This node's region, one of `network.regions`. */
  region: string
  /** A name from the config's `bandwidthClasses`: limits this node's outbound connections. Default: no limit. */
  bandwidthClass?: string
  /** The region of the node listening at an address, or undefined to dial it as plain TCP (no shaping). */
  regionOf(addr: Multiaddr): string | undefined
  /** Bytes one direction of a connection may hold in flight before the sender is told to wait. Default 1 MiB. */
  maxQueuedBytes?: number
  /** Passed to @libp2p/tcp as it is. */
  tcp?: TCPOptions
}

export type ShapedTcpComponents = TCPComponents

class ShapedTcp implements Transport {
  readonly [transportSymbol] = true as const
  readonly [Symbol.toStringTag] = 'parkbench:shaped-tcp'
  readonly [serviceCapabilities] = ['@libp2p/transport']
  readonly #tcp: Transport
  readonly #network: NetworkModel
  readonly #host: Host
  readonly #regionOf: (addr: Multiaddr) => string | undefined
  readonly #maxQueuedBytes: number
  /** Every open shaped connection, so stopping the node leaves no timer behind. */
  readonly #connections = new Set<ShapedTcpConnection>()

  constructor(components: ShapedTcpComponents, init: ShapedTcpInit) {
    this.#network = init.network
    init.network.assertRegion(init.region, 'shapedTcp.region')
    const bandwidth =
      init.bandwidthClass === undefined
        ? { upBps: Number.POSITIVE_INFINITY, downBps: Number.POSITIVE_INFINITY }
        : init.network.bandwidthClass(init.bandwidthClass, 'shapedTcp.bandwidthClass')
    this.#host = { region: init.region, upBps: bandwidth.upBps, downBps: bandwidth.downBps, upFreeAt: 0 }
    this.#regionOf = init.regionOf
    this.#maxQueuedBytes = init.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.#tcp = tcp(init.tcp)(components)
  }

  start(): void {}

  stop(): void {
    for (const connection of [...this.#connections]) {
      connection.cut(new ConnectionFailedError('Shaped TCP transport stopped'))
    }
  }

  async dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    options.signal.throwIfAborted()
    const remoteRegion = this.#regionOf(ma)
    if (remoteRegion === undefined) return this.#tcp.dial(ma, options)
    this.#network.assertRegion(remoteRegion, 'shapedTcp.regionOf')
    this.#checkPartition(ma, remoteRegion)
    const real = options.upgrader
    // @libp2p/tcp hands its raw socket connection to the upgrader: this one puts the shaping in between.
    const upgrader: Upgrader = {
      upgradeOutbound: ((maConn: MultiaddrConnection, opts: UpgraderOptions) =>
        this.#upgradeShaped(ma, remoteRegion, real, maConn, opts)) as Upgrader['upgradeOutbound'],
      upgradeInbound: real.upgradeInbound.bind(real),
      createInboundAbortSignal: (signal) => real.createInboundAbortSignal(signal),
      getStreamMuxers: () => real.getStreamMuxers(),
      getConnectionEncrypters: () => real.getConnectionEncrypters(),
    }
    return this.#tcp.dial(ma, { ...options, upgrader })
  }

  async #upgradeShaped(
    ma: Multiaddr,
    remoteRegion: string,
    real: Upgrader,
    maConn: MultiaddrConnection,
    opts: UpgraderOptions,
  ): Promise<Connection> {
    const connection = new ShapedTcpConnection({
      inner: maConn,
      network: this.#network,
      local: this.#host,
      remoteRegion,
      maxQueuedBytes: this.#maxQueuedBytes,
      trackers: [this.#connections],
    })
    try {
      // The TCP handshake took no time on loopback; on the modelled internet the first byte leaves one RTT later.
      await sleep(this.#network.rttMs(this.#host.region, remoteRegion), opts.signal)
      this.#checkPartition(ma, remoteRegion)
      return await real.upgradeOutbound(connection, opts)
    } catch (err) {
      connection.abort(err as Error)
      throw err
    }
  }

  #checkPartition(ma: Multiaddr, remoteRegion: string): void {
    if (this.#network.isPartitioned(this.#host.region, remoteRegion)) {
      throw new NetworkPartitionedError(`Cannot dial ${ma}: ${this.#host.region} and ${remoteRegion} are partitioned`)
    }
  }

  createListener(options: CreateListenerOptions): Listener {
    return this.#tcp.createListener(options)
  }

  listenFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.#tcp.listenFilter(multiaddrs)
  }

  dialFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.#tcp.dialFilter(multiaddrs)
  }
}

/**
 * @libp2p/tcp with a {@link NetworkModel}'s delays applied in user space, for a swarm whose nodes are separate
 * processes on 127.0.0.1 (no netem here). Only the dialer shapes: on a connection it dials to an address whose
 * region `regionOf` knows, each chunk it sends waits the one-way delay (with jitter, loss and its bandwidth class)
 * before reaching the socket, and each chunk it receives waits the one-way delay before libp2p sees it, so the
 * round trip is the matrix RTT and the listener needs no regions. Inbound connections pass through unshaped: in a
 * swarm every connection has a dialer, which shapes it.
 *
 * Partitions: `network.partition(a, b)` in this process cuts this process's shaped outbound connections between
 * a and b and refuses new dials between them. Connections other nodes dialed to this one are cut by their
 * dialer's process, so every process must be told of the partition.
 *
 * @example
 * ```ts
 * const network = new NetworkModel(config)
 * const node = await createNode({
 *   transports: [shapedTcp({ network, region: 'europe', bandwidthClass: 'fullnode', regionOf: (ma) => directory.get(ma.toString()) })],
 *   listen: ['/ip4/127.0.0.1/tcp/0'],
 * })
 * ```
 */
export function shapedTcp(init: ShapedTcpInit): (components: ShapedTcpComponents) => Transport {
  return (components) => new ShapedTcp(components, init)
}
