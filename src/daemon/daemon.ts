import { join } from 'node:path'
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Hex, LocalAccount } from 'viem'
import { freeModePolicy } from '../compute/admission.js'
import { type ComputeService, createCompute, createComputeStorage } from '../compute/compute-service.js'
import type { WorkerPool } from '../compute/worker-pool.js'
import { InvalidInputError } from '../errors.js'
import { appendLeaseLog } from '../lease/lease-log.js'
import { createLeaseProvider, type LeaseProvider } from '../lease/lease-provider.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import { createMarketProvider, type MarketProvider } from '../market/market-provider.js'
import type { OfferSummary } from '../market/offer.js'
import { Offer, summarizeOffer } from '../market/offer.js'
import { OFFER_CATALOG } from '../market/offerable.js'
import type { ModelSpec } from '../market/pb/market.js'
import { createNode, type NodeInit, type ParkbenchNode } from '../net/create-node.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import type { ReachabilityService, ReachabilityStatus } from '../net/reachability.js'
import { getTokenUnits } from '../pay/actions/get-token-units.js'
import type { TokenUnits } from '../pay/amounts.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { createPayPublicClient } from '../pay/clients.js'
import { PAYMENT_STORE_DIR } from '../pay/constants.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { openProviderPayments, type ProviderPayments } from '../pay/payment-state.js'
import { providerNodeId } from '../pay/provider-node.js'
import type { Settler, SettlerEvent } from '../pay/settler.js'
import type { DaemonConfig } from './config.js'
import { type ControlServer, DaemonRunningError, startControlServer } from './control.js'
import { channelReport, type DaemonEarnings, earningsOf } from './earnings.js'
import { NoPaymentTermsError } from './errors.js'
import { toModelSpec } from './model-spec.js'

const log = logger('parkbench:daemon')

/** Leases that end like this are settled at once. */
const BROKEN_LEASE_ENDS = new Set<string>(['RENTER_GONE', 'PAYMENT_LATE', 'PAYMENT_INVALID', 'PROTOCOL_ERROR'])

/** Sampling interval of the event-loop delay histogram, in ms. */
const LOOP_RESOLUTION_MS = 10

/** How often the daemon looks for models added to its data dir by another process. */
const MODEL_RESCAN_MS = 2_000

export { toModelSpec } from './model-spec.js'

/** The daemon's events: the settler's, a lease that ended, and warnings. */
export type DaemonEvent =
  | SettlerEvent
  | { type: 'lease:ended'; lease: LeaseInfo }
  | { type: 'warning'; message: string }
  | { type: 'reach:changed'; reach: ReachabilityStatus }

export interface DaemonInit {
  config: DaemonConfig
  /** The chain to be paid on; required to sell. */
  chain?: ChainConfig | undefined
  /** This node's EVM account: receives payouts and sends settlements. Required to sell. */
  account?: LocalAccount | undefined
  /**
   * What the daemon reports as it works: settlements confirmed or skipped (the settler's events), leases that end,
   * and one-line warnings for the operator (e.g. the chain was reset since payment state was kept).
   */
  onEvent?(event: DaemonEvent): void
  /**
   * Serve the control API (`parkbench leases`, `status`, `channel settle`) on `<dataDir>/control.sock`. Default
   * true.
   */
  control?: boolean
  /**
   * libp2p settings over the config's (the swarm lab passes its in-process transport and `/memory` addresses).
   * Default none.
   */
  node?: Omit<NodeInit, 'privateKey'> | undefined
  /** A worker pool shared with other daemons in this process; the daemon neither starts nor stops it. */
  workers?: WorkerPool | undefined
  /**
   * How often the data dir is scanned for models another process added (`parkbench model add`); 0 never (a caller
   * that adds models through {@link Daemon.compute} and calls {@link Daemon.syncModels}). Default 2000 ms.
   */
  modelRescanMs?: number
  /** How often the settler checks the chain (close requests, thresholds). Default 5000 ms. */
  settleIntervalMs?: number
  /**
   * Measure the process's event-loop delay for `status` (a 10 ms sampling timer). Default true; many daemons in one
   * process (the swarm lab) measure it once for all.
   */
  monitorLoad?: boolean
}

/** How busy the daemon's process is: what `parkbench status` and the lease benchmark read. */
export interface DaemonLoad {
  uptimeMs: number
  rssBytes: number
  /** CPU time used since the process started, in microseconds. */
  cpuUserMicros: number
  cpuSystemMicros: number
  /** Event-loop delay since the window began (daemon start, or the last `status({ resetLoad: true })`), in ms. */
  eventLoop: { windowMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number }
  leases: { active: number; threadsFree: number }
}

export interface DaemonStatus {
  peerId: string
  addresses: string[]
  selling: boolean
  payoutAddress: string | undefined
  offer: OfferSummary | undefined
  load: DaemonLoad
  /** When selling: what it has earned. */
  earnings?: DaemonEarnings
  /** Whether the internet can reach this node, and the relays that carry it when not. */
  reach: ReachabilityStatus
  /** When selling: the symbol and decimals of the token it is paid in (read from the chain), to show amounts. */
  tokenUnits?: TokenUnits
}

/**
 * The composition root: one node and its services, started in order (key -> libp2p -> pay -> compute -> leases ->
 * market) and stopped in reverse. Only the daemon wires services together.
 */
export class Daemon {
  readonly config: DaemonConfig
  private readonly init: DaemonInit
  private privateKey: PrivateKey | undefined
  private libp2p: ParkbenchNode | undefined
  private market: MarketProvider | undefined
  private computeService: ComputeService | undefined
  private leaseProvider: LeaseProvider | undefined
  private payments: ProviderPayments | undefined
  private modelsTimer: NodeJS.Timeout | undefined
  private advertisedModels = ''
  private controlServer: ControlServer | undefined
  private loopDelay: IntervalHistogram | undefined
  private loopWindowStart = 0
  private startedAt = 0
  private tokenUnits: TokenUnits | undefined

  constructor(init: DaemonInit) {
    this.init = init
    this.config = init.config
  }

  get node(): ParkbenchNode {
    return this.started(this.libp2p)
  }

  /** The compute service: model store and worker pool. */
  get compute(): ComputeService {
    return this.started(this.computeService)
  }

  /** The provider side of leases, when selling. */
  get leases(): LeaseProvider | undefined {
    return this.leaseProvider
  }

  /** The payment receiver, when selling. */
  get receiver(): PaymentReceiver | undefined {
    return this.payments?.receiver
  }

  /** The settler, when selling. */
  get settler(): Settler | undefined {
    return this.payments?.settler
  }

  private started<T>(value: T | undefined): T {
    if (value == null) throw new Error('Daemon is not started')
    return value
  }

  async start(): Promise<void> {
    const { config, chain, account } = this.init
    if (config.sell && (chain == null || account == null)) throw new NoPaymentTermsError()
    this.privateKey = await loadOrCreatePeerKey(config.dataDir)
    this.libp2p = await createNode({
      privateKey: this.privateKey,
      listen: config.listen,
      announce: config.announce,
      bootstrap: config.bootstrap,
      mdns: config.mdns,
      relay: { client: config.reach.relay, ...(config.reach.relayServer ? { server: true as const } : {}) },
      reach: {
        reservations: config.reach.reservations,
        privateAfterMs: config.reach.privateAfterMs,
        autonat: config.reach.autonat,
        onChange: (reach) => this.init.onEvent?.({ type: 'reach:changed', reach }),
      },
      ...this.init.node,
    })
    const node = this.libp2p
    try {
      let admit = config.compute.freeMode ? freeModePolicy : undefined
      // The model store comes first: the lease provider checks requests against it, compute serves from it.
      const storage = createComputeStorage({
        dataDir: config.dataDir,
        catalog: OFFER_CATALOG,
        ...(this.init.workers !== undefined ? { sharedPool: this.init.workers } : {}),
      })
      if (config.sell && chain != null && account != null) {
        // Refuses a contract that is not parkbench's or whose challenge window is too short, before serving.
        this.payments = await openProviderPayments({
          chain,
          account,
          providerNode: providerNodeId(node.peerId.toMultihash().bytes),
          storeDir: join(config.dataDir, PAYMENT_STORE_DIR),
          ...(config.pay.minChallengePeriod != null ? { minChallengePeriod: config.pay.minChallengePeriod } : {}),
          settler: {
            threshold: config.pay.settleThreshold ?? config.offer.pricePerSecond * 600n,
            ...(this.init.settleIntervalMs !== undefined ? { intervalMs: this.init.settleIntervalMs } : {}),
            onEvent: (event) => this.init.onEvent?.(event),
          },
        })
        for (const earlier of this.payments.earlier) this.init.onEvent?.({ type: 'warning', message: earlier.message })
        // The offer names its token by the symbol the token's contract gives, not a guess.
        const timeout = { signal: AbortSignal.timeout(30_000) }
        this.tokenUnits = await getTokenUnits(createPayPublicClient(chain), { token: config.pay.token }, timeout)
        const { receiver, settler, channels } = this.payments
        // Resumes settlements that were pending when the daemon last stopped (or was killed).
        await settler.start()
        this.leaseProvider = createLeaseProvider(
          {
            node,
            privateKey: this.privateKey,
            receiver,
            channels,
            models: storage.store,
          },
          {
            payoutAddress: account.address,
            providerNode: providerNodeId(node.peerId.toMultihash().bytes),
            token: config.pay.token,
            pricePerSecond: config.offer.pricePerSecond,
            threads: config.offer.threads,
            maxLeaseSeconds: config.offer.maxLeaseSeconds,
            onLeaseEnded: (info) => {
              this.init.onEvent?.({ type: 'lease:ended', lease: info })
              appendLeaseLog(config.dataDir, { role: 'provider', ...info, endedAt: info.endedAt ?? Date.now() }).catch(
                (err: Error) => log.error('writing the lease log failed - %e', err),
              )
              // The renter vanished or stopped paying: settle what it paid now rather than wait for the threshold.
              if (BROKEN_LEASE_ENDS.has(info.endReason ?? '') && info.amountPaid > 0n) {
                settler
                  .settle(info.channelId, { reason: 'lease-broken' })
                  .catch((err: Error) => log.error('settling %s after a broken lease failed - %e', info.channelId, err))
              }
            },
          },
        )
        await this.leaseProvider.start()
        admit ??= this.leaseProvider.admit
      }
      this.computeService = createCompute(node, {
        dataDir: config.dataDir,
        storage,
        ...(admit != null ? { admit } : {}),
      })
      await this.computeService.start()
      this.market = createMarketProvider({ node, privateKey: this.privateKey })
      await this.market.start()
      await this.syncModels()
      // `parkbench model add` writes to the data dir while the daemon runs: pick new models up within seconds.
      const rescanMs = this.init.modelRescanMs ?? MODEL_RESCAN_MS
      if (rescanMs > 0) {
        this.modelsTimer = setInterval(() => {
          this.syncModels().catch((err: Error) => log.error('model rescan failed - %e', err))
        }, rescanMs)
        this.modelsTimer.unref()
      }
      this.startedAt = Date.now()
      if (this.init.monitorLoad !== false) {
        this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
        this.loopDelay.enable()
      }
      this.loopWindowStart = performance.now()
      if (this.init.control !== false) {
        try {
          this.controlServer = await startControlServer(config.dataDir, this.routes())
        } catch (err) {
          // Two daemons on one data dir is an error; any other failure (a data dir path too long for a unix
          // socket, a read-only dir) costs only `parkbench status|leases`, not the node.
          if (err instanceof DaemonRunningError) throw err
          log.error('control socket unavailable, `parkbench status` and `leases` will not reach this daemon - %e', err)
        }
      }
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %p', node.peerId)
  }

  async stop(): Promise<void> {
    clearInterval(this.modelsTimer)
    await this.controlServer?.close()
    this.controlServer = undefined
    this.loopDelay?.disable()
    await this.market?.stop()
    await this.leaseProvider?.stop()
    await this.computeService?.stop()
    await this.payments?.stop()
    await this.libp2p?.stop()
    this.market = undefined
    this.leaseProvider = undefined
    this.computeService = undefined
    this.payments = undefined
    this.libp2p = undefined
  }

  /** Re-sign and re-advertise the offer when the models in the store changed. */
  async syncModels(): Promise<void> {
    if (!this.config.sell || this.market == null || this.computeService == null) return
    const records = await this.computeService.store.list()
    const fingerprint = records
      .map((r) => r.sha256)
      .sort()
      .join(',')
    if (fingerprint === this.advertisedModels && this.market.currentOffer() != null) return
    this.advertisedModels = fingerprint
    await this.market.setTerms(this.offerTerms(records.map(toModelSpec)))
  }

  /** Active and recent leases. */
  leaseList(): LeaseInfo[] {
    return this.leaseProvider?.leases() ?? []
  }

  /** Identity, addresses, the current offer and the process's load; `resetLoad` starts a new event-loop window. */
  async status(options: { resetLoad?: boolean } = {}): Promise<DaemonStatus> {
    const node = this.node
    const signed = this.market?.currentOffer()
    // Our own offer: decode it, no need to check our own signature.
    const offer = signed == null ? undefined : summarizeOffer(node.peerId, Offer.decode(signed.offer))
    return {
      peerId: node.peerId.toString(),
      addresses: node.getMultiaddrs().map((a) => a.toString()),
      reach: reachOf(node),
      selling: signed != null,
      payoutAddress: this.init.account?.address,
      offer,
      load: this.load(options.resetLoad === true),
      ...(this.payments != null ? { earnings: await this.earnings() } : {}),
      ...(this.tokenUnits != null ? { tokenUnits: this.tokenUnits } : {}),
    }
  }

  /** Settled (gross), gas, net and unsettled earnings, from the settlement history and the accepted proofs. */
  async earnings(): Promise<DaemonEarnings> {
    return earningsOf(this.started(this.payments))
  }

  private load(reset: boolean): DaemonLoad {
    const h = this.loopDelay
    // The histogram records each sampling interval as it elapsed; the delay is what exceeds the interval.
    const ms = (ns: number): number => Math.max(0, Math.round((ns - LOOP_RESOLUTION_MS * 1e6) / 1e4) / 100)
    const cpu = process.cpuUsage()
    const leases = this.leaseProvider?.leases().filter((l) => l.state !== 'ended').length ?? 0
    const load: DaemonLoad = {
      uptimeMs: Date.now() - this.startedAt,
      rssBytes: process.memoryUsage.rss(),
      cpuUserMicros: cpu.user,
      cpuSystemMicros: cpu.system,
      eventLoop: {
        windowMs: Math.round(performance.now() - this.loopWindowStart),
        meanMs: h == null || h.count === 0 ? 0 : ms(h.mean),
        p50Ms: h == null || h.count === 0 ? 0 : ms(h.percentile(50)),
        p99Ms: h == null || h.count === 0 ? 0 : ms(h.percentile(99)),
        maxMs: h == null || h.count === 0 ? 0 : ms(h.max),
      },
      leases: { active: leases, threadsFree: this.leaseProvider?.freeThreads() ?? 0 },
    }
    if (reset) {
      h?.reset()
      this.loopWindowStart = performance.now()
    }
    return load
  }

  /** The control API: what `parkbench status`, `leases` and `channel settle|status` ask a running daemon. */
  private routes(): Parameters<typeof startControlServer>[1] {
    return {
      'GET /v1/status': async ({ query }) => this.status({ resetLoad: query.get('reset') === '1' }),
      'GET /v1/leases': async () => ({ leases: this.leaseList() }),
      'GET /v1/channels': async () =>
        this.payments == null ? { channels: [], pending: [] } : channelReport(this.payments),
      'POST /v1/settle': async ({ body }) => {
        const settler = this.payments?.settler
        if (settler == null) throw new NoPaymentTermsError('This daemon is not selling: nothing to settle')
        const { channelId, force } = (body ?? {}) as { channelId?: unknown; force?: unknown }
        if (channelId != null && (typeof channelId !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(channelId))) {
          throw new InvalidInputError('channelId must be a 32-byte 0x-hex id')
        }
        if (force != null && typeof force !== 'boolean') throw new InvalidInputError('force must be true or false')
        return settler.settleWithReport(channelId as Hex | undefined, { force: force === true })
      },
    }
  }

  private offerTerms(models: ModelSpec[]): Parameters<MarketProvider['setTerms']>[0] {
    const { offer, pay } = this.config
    const { chain, account } = this.init
    if (chain == null || account == null) throw new NoPaymentTermsError()
    return {
      payoutAddress: account.address,
      chainId: BigInt(chain.chainId),
      channelContract: chain.contract,
      token: pay.token,
      tokenSymbol: this.tokenUnits?.symbol ?? (pay.token == null ? 'ETH' : 'TOKEN'),
      pricePerSecond: offer.pricePerSecond,
      threads: offer.threads,
      memoryBytes: offer.memoryBytes,
      maxLeaseSeconds: offer.maxLeaseSeconds,
      region: offer.region,
      models,
    }
  }
}

/** Create a daemon; call `start()` to bring it up. */
export function createDaemon(init: DaemonInit): Daemon {
  return new Daemon(init)
}

const NO_REACH: ReachabilityStatus = { reachability: 'unknown', publicAddresses: [], relayedAddresses: [], relays: [] }

/** The node's reachability service's status, when it runs one (the swarm lab's nodes do not). */
function reachOf(node: ParkbenchNode): ReachabilityStatus {
  const service = node.services.reachability as ReachabilityService | undefined
  return service?.status() ?? NO_REACH
}
