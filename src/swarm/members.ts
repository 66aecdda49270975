import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Connection } from '@libp2p/interface'
import type { LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createClient, type RenterClient } from '../client/index.js'
import { createComputeStorage } from '../compute/compute-service.js'
import type { WorkerPool } from '../compute/worker-pool.js'
import type { DaemonConfig } from '../daemon/config.js'
import { Daemon } from '../daemon/daemon.js'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'
import { OFFER_CATALOG } from '../market/offerable.js'
import { createNode, type NodeInit, type ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'
import type { ChainConfig } from '../pay/chain-config.js'
import type { DevChain } from '../pay/dev-chain.js'
import type { MetricsSink } from './metrics.js'
import type { SwarmModel } from './models.js'
import type { NetworkModel } from './network.js'
import type { Scenario } from './scenario.js'
import type { NodeSpec } from './schedule.js'
import { shapedTransport } from './shaped-transport.js'

/** What every member of a run shares. */
export interface SwarmContext {
  scenario: Scenario
  /** The chain every member pays on. */
  chain: ChainConfig
  network: NetworkModel
  /** One worker pool for every provider in the process (onnxruntime in child processes). */
  pool: WorkerPool
  /** The same pool, whose outputs a wrong-result provider corrupts. */
  wrongPool: WorkerPool
  models: Map<string, SwarmModel>
  bootstrap: string[]
  /** The run's folder: each member's data dir is `<dir>/nodes/<id>`. */
  dir: string
  metrics: MetricsSink
  /** Milliseconds since the run began. */
  now(): number
  /** The transport and listen addresses of a member; default the shaped in-process transport. */
  transport?(spec: NodeSpec): { transports: NonNullable<NodeInit['transports']>; listen: string[] }
}

/**
 * The libp2p settings of a member: by default the shaped in-process transport at `/memory/<run>-<id>`; a member
 * in a process of its own passes `ctx.transport` (shaped TCP on its port).
 */
export function memberNode(ctx: SwarmContext, spec: NodeSpec, runTag: string): NodeInit {
  const { transports, listen } = ctx.transport?.(spec) ?? {
    transports: [shapedTransport({ network: ctx.network, region: spec.region, bandwidthClass: spec.bandwidth })],
    listen: [`/memory/${runTag}-${spec.id}`],
  }
  return {
    transports,
    listen,
    // Dialed at start (it is no IP address, so not through @libp2p/bootstrap).
    bootstrap: ctx.bootstrap,
    // Renters and hostile peers ask the DHT and answer nothing on it, as `createClient` makes renters.
    dhtServer: spec.role === 'provider',
    // A ping per connection every 10 s (libp2p's default) is most of what an idle swarm of hundreds spends.
    connectionPingIntervalMs: 60_000,
    // Many nodes share one process and one host: let them all connect. The connection limit is a daemon's own
    // (create-node.ts): below what a node needs, libp2p's pruner closes connections that the far end's reconnect
    // queue dials again at once (kad-dht keeps its 20 closest peers alive). At 64, a 100-node swarm spent ~100
    // handshakes a second on that loop after its ramp, and its lookups failed; at 300 it opens ~none.
    connections: { inboundConnectionThreshold: 10_000 },
  }
}

/**
 * Wait (up to 10 s) until a member's DHT routing table holds a peer: `createNode` has already dialed the hub (it
 * dials bootstrap addresses that are no IP address itself), and identify puts it in the table shortly after.
 */
export async function joinSwarm(node: ParkbenchNode): Promise<void> {
  await waitForDhtPeers(node, 1, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
}

/** Stop a libp2p node, whatever its stop throws (a node being killed may fail to stop cleanly). */
export async function stopQuietly(node: ParkbenchNode | undefined): Promise<void> {
  try {
    await node?.stop()
  } catch {}
}

/** A fresh EVM account, funded on the dev chain. */
export async function fundedAccount(chain: Pick<DevChain, 'fund'>): Promise<LocalAccount> {
  const account = privateKeyToAccount(generatePrivateKey())
  await chain.fund(account.address)
  return account
}

/** Reset every connection at once, as a process killed by the kernel would leave them (no END, no FIN). */
export function cutConnections(node: ParkbenchNode): void {
  for (const connection of node.getConnections() as Connection[]) connection.abort(new Error('killed'))
}

/** A provider: a real {@link Daemon} (market, leases, compute, payments) on the shaped transport. */
export class SwarmProvider {
  daemon: Daemon | undefined
  readonly dataDir: string
  online = false
  /** Leases it served, as its lease provider reported them when they ended. */
  readonly endedLeases: import('../lease/metered-lease.js').LeaseInfo[] = []

  constructor(
    readonly spec: NodeSpec,
    readonly account: LocalAccount,
    private readonly ctx: SwarmContext,
    private readonly runTag: string,
  ) {
    this.dataDir = join(ctx.dir, 'nodes', spec.id)
  }

  private config(): DaemonConfig {
    const { spec } = this
    return {
      dataDir: this.dataDir,
      listen: [],
      announce: [],
      bootstrap: [],
      mdns: false,
      sell: true,
      offer: {
        pricePerSecond: spec.pricePerSecond ?? 1n,
        threads: spec.threads ?? 1,
        memoryBytes: 1n << 30n,
        maxLeaseSeconds: 3600,
        region: spec.region,
      },
      pay: {},
      compute: { freeMode: false },
      // The swarm's in-process addresses are neither public nor private: no AutoNAT, no relays.
      reach: {
        relay: false,
        reservations: 0,
        relayServer: false,
        relayLimits: {},
        privateAfterMs: 30_000,
        autonat: false,
        dialPort: 0,
        holePunch: false,
        upnp: false,
      },
    }
  }

  /** Start (or start again, on the same data dir: its payment state recovered), holding its models. */
  async start(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true })
    // The models go into its store first, so that the daemon signs and advertises one offer with all of them (each
    // advertisement is a DHT query and a dozen new connections: the costliest thing a node does at start).
    const { store } = createComputeStorage({ dataDir: this.dataDir, catalog: OFFER_CATALOG, sharedPool: this.ctx.pool })
    for (const name of this.spec.models ?? []) {
      const model = this.ctx.models.get(name)
      if (model !== undefined) await store.add(model.bytes, { name })
    }
    const daemon = new Daemon({
      config: this.config(),
      chain: this.ctx.chain,
      account: this.account,
      control: false,
      node: memberNode(this.ctx, this.spec, this.runTag),
      workers: this.spec.wrongResults === true ? this.ctx.wrongPool : this.ctx.pool,
      // Hundreds of daemons share this process: the models come from the swarm, the run measures the event loop
      // once, and the settler looks at the chain every 30 s (the run settles everything at its end anyway).
      modelRescanMs: 0,
      monitorLoad: false,
      settleIntervalMs: 30_000,
      onEvent: (event) => {
        if (event.type === 'lease:ended') {
          this.endedLeases.push(event.lease)
          this.ctx.metrics.leaseEnded(event.lease)
        }
      },
    })
    await daemon.start()
    this.daemon = daemon
    await joinSwarm(daemon.node)
    this.online = true
  }

  /** Leave cleanly: leases end with END, the node says goodbye. */
  async leave(): Promise<void> {
    this.online = false
    await this.daemon?.stop()
    this.daemon = undefined
  }

  /**
   * Die at once. In-process a node cannot be kill -9'd, so every connection is reset first (no END reaches a
   * renter, nothing more is acknowledged) and then its services stop; what it acknowledged is what its durable
   * payment store holds, as after a real kill (test/daemon proves that part with real processes).
   */
  async kill(): Promise<void> {
    this.online = false
    const daemon = this.daemon
    this.daemon = undefined
    if (daemon === undefined) return
    cutConnections(daemon.node)
    await daemon.stop()
  }
}

/** A renter: a real {@link RenterClient} on the shaped transport, paying on the dev chain. */
export class SwarmRenter {
  client: RenterClient | undefined
  node: ParkbenchNode | undefined
  readonly dataDir: string
  /** Every channel it opened or used. */
  readonly channels = new Set<`0x${string}`>()
  /** Every lease it held, as it summed them up (each life of it: a killed renter's leases die with it). */
  readonly leases: RenterLeaseSummary[] = []
  /** What it had authorised on each channel when it last stopped. */
  readonly authorised = new Map<`0x${string}`, bigint>()
  startedAt = 0

  constructor(
    readonly spec: NodeSpec,
    readonly account: LocalAccount,
    private readonly ctx: SwarmContext,
    private readonly runTag: string,
  ) {
    this.dataDir = join(ctx.dir, 'nodes', spec.id)
  }

  async start(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true })
    const { scenario, metrics } = this.ctx
    const settings = memberNode(this.ctx, this.spec, this.runTag)
    this.startedAt = performance.now()
    this.node = await createNode(settings)
    await joinSwarm(this.node)
    this.client = await createClient({
      dataDir: this.dataDir,
      chain: this.ctx.chain,
      account: this.account,
      node: this.node,
      bootstrap: this.ctx.bootstrap,
      leaseSeconds: scenario.workload.leaseSeconds,
      deposit: scenario.workload.deposit,
      offerCacheMs: 30_000,
      discoveryTimeoutMs: 5_000,
      onEvent: (event) => {
        if (event.type === 'lease:started') {
          metrics.leaseStarted()
          this.channels.add(event.channelId)
        } else if (event.type === 'channel:opened') {
          this.channels.add(event.channelId)
        } else if (event.type === 'failover') {
          metrics.failover()
        }
      },
    })
  }

  get online(): boolean {
    return this.client !== undefined
  }

  /** Crash: connections reset, nothing sent; the client's payment state is what it last wrote. */
  async kill(): Promise<void> {
    const { client, node } = this
    this.client = undefined
    this.node = undefined
    if (node !== undefined) cutConnections(node)
    await client?.close().catch(() => {})
    // What this life of it paid, as it summed it up (its payment store keeps the channel totals across lives).
    if (client !== undefined) this.leases.push(...client.leaseHistory())
    await stopQuietly(node)
  }

  /** Stop cleanly (the run's end): leases end with their final vouchers; its books are read. */
  async stop(): Promise<void> {
    const { client, node } = this
    this.client = undefined
    this.node = undefined
    // Its channels as its channels file knows them (they outlive a crashed process), and those it used this life.
    for (const ch of (await client?.channelIds().catch(() => [])) ?? []) this.channels.add(ch)
    await client?.close().catch(() => {})
    if (client !== undefined) {
      for (const ch of this.channels) this.authorised.set(ch, client.channelTotal(ch))
      this.leases.push(...client.leaseHistory())
    }
    await stopQuietly(node)
  }
}
