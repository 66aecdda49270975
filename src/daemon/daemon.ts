import { join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { type AdmissionPolicy, freeModePolicy } from '../compute/admission.js'
import { type ComputeService, createCompute, createComputeStorage } from '../compute/compute-service.js'
import { dataDirPath } from '../data-dir.js'
import type { LeaseProvider } from '../lease/lease-provider.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import { createMarketProvider, type MarketProvider, type OfferTerms } from '../market/market-provider.js'
import { Offer, summarizeOffer } from '../market/offer.js'
import { OFFER_CATALOG } from '../market/offerable.js'
import type { ModelSpec } from '../market/pb/market.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'
import type { HolePunchService } from '../net/hole-punch.js'
import { loadOrCreatePeerKey } from '../net/keys.js'
import type { ReachabilityService, ReachabilityStatus } from '../net/reachability.js'
import { getTokenUnits } from '../pay/actions/get-token-units.js'
import type { TokenUnits } from '../pay/amounts.js'
import { createPayPublicClient } from '../pay/clients.js'
import { PAYMENT_STORE_DIR } from '../pay/constants.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { openProviderPayments, type ProviderPayments } from '../pay/payment-state.js'
import { providerNodeId } from '../pay/provider-node.js'
import type { SettlementRecord } from '../pay/settlement-ledger.js'
import type { Settler } from '../pay/settler.js'
import type { DaemonConfig } from './config.js'
import type { ConsoleTerms } from './console/console-state.js'
import type { OwnerConsole } from './console/owner-console.js'
import { type ControlServer, DaemonRunningError, startControlServer } from './control.js'
import { controlRoutes } from './control-routes.js'
import { startDaemonConsole } from './daemon-console.js'
import { createDaemonLeases } from './daemon-leases.js'
import type { DaemonInit, DaemonStatus, HolePunchStatus } from './daemon-types.js'
import { channelReport, type DaemonEarnings, earningsOf } from './earnings.js'
import { NoPaymentTermsError } from './errors.js'
import { type DaemonLoad, LoadMonitor } from './load-monitor.js'
import { createDaemonMetrics, type DaemonMetrics } from './metrics.js'
import { toModelSpec } from './model-spec.js'
import { offerTerms, sellTerms } from './offer-terms.js'
import { createResourcePolicy, defaultPolicySensors, type ResourcePolicy } from './resource-policy.js'
import { type PausedBy, Selling } from './selling.js'

const log = logger('parkbench:daemon')

/** How often the daemon looks for models added to its data dir by another process. */
const MODEL_RESCAN_MS = 2_000

export type { DaemonEvent, DaemonInit, DaemonStatus } from './daemon-types.js'
export type { DaemonLoad } from './load-monitor.js'
export { toModelSpec } from './model-spec.js'
export type { PausedBy } from './selling.js'

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
  private stopping = new AbortController()
  private advertisedModels = ''
  private controlServer: ControlServer | undefined
  private tokenUnits: TokenUnits | undefined
  private readonly loadMonitor = new LoadMonitor()
  private daemonMetrics: DaemonMetrics | undefined
  private ownerConsole: OwnerConsole | undefined
  private selling: Selling | undefined
  private resourcePolicy: ResourcePolicy | undefined

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

  /** The daemon's Prometheus metrics, when the console is on. */
  get metrics(): DaemonMetrics | undefined {
    return this.daemonMetrics
  }

  /** The resource policy, when the config sets one: its rules, last readings and verdict. */
  get policy(): ResourcePolicy | undefined {
    return this.resourcePolicy
  }

  /** The owner console, when it is on and listening. */
  get console(): OwnerConsole | undefined {
    return this.ownerConsole
  }

  private started<T>(value: T | undefined): T {
    if (value == null) throw new Error('Daemon is not started')
    return value
  }

  async start(): Promise<void> {
    const { config, chain, account } = this.init
    if (config.sell && (chain == null || account == null)) throw new NoPaymentTermsError()
    this.privateKey = await loadOrCreatePeerKey(config.dataDir)
    if (this.init.console !== undefined) {
      this.daemonMetrics = createDaemonMetrics({
        pool: () => this.computeService?.pool.stats,
        earnings: () => (this.payments == null ? undefined : earningsOf(this.payments)),
        selling: () => this.market?.currentOffer() != null,
      })
    }
    const registry = this.daemonMetrics?.registry
    this.libp2p = await createNode({
      privateKey: this.privateKey,
      listen: config.listen,
      announce: config.announce,
      bootstrap: config.bootstrap,
      mdns: config.mdns,
      ...(config.amino != null ? { amino: config.amino } : {}),
      ...(config.reach.upnp !== false ? { upnp: config.reach.upnp } : {}),
      relay: {
        client: config.reach.relay,
        dialPort: config.reach.dialPort === 0 ? false : config.reach.dialPort,
        ...(config.reach.holePunch ? {} : { holePunch: false }),
        ...(config.reach.relayServer ? { server: config.reach.relayLimits } : {}),
      },
      reach: {
        reservations: config.reach.reservations,
        privateAfterMs: config.reach.privateAfterMs,
        autonat: config.reach.autonat,
        onChange: (reach) => this.init.onEvent?.({ type: 'reach:changed', reach }),
      },
      // libp2p's own metrics into the same registry. It forgets the metrics an earlier node registered (a daemon
      // restarted in one process gets its own) and clears prom-client's global registry, which parkbench never uses.
      ...(registry !== undefined ? { metrics: prometheusMetrics({ registry }) } : {}),
      ...this.init.node,
    })
    const node = this.libp2p
    try {
      let admit: AdmissionPolicy | undefined = config.compute.freeMode ? freeModePolicy : undefined
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
        const { settler } = this.payments
        // Resumes settlements that were pending when the daemon last stopped (or was killed).
        await settler.start()
        this.leaseProvider = createDaemonLeases(
          { node, privateKey: this.privateKey, payments: this.payments, models: storage.store },
          {
            config,
            payoutAddress: account.address,
            metrics: this.daemonMetrics,
            onLeaseEnded: (info) => this.init.onEvent?.({ type: 'lease:ended', lease: info }),
          },
        )
        await this.leaseProvider.start()
        admit ??= this.leaseProvider.admit
        if (this.daemonMetrics !== undefined) admit = this.daemonMetrics.countJobs(admit)
      }
      this.computeService = createCompute(node, {
        dataDir: config.dataDir,
        storage,
        ...(admit != null ? { admit } : {}),
      })
      await this.computeService.start()
      this.market = createMarketProvider(
        { node, privateKey: this.privateKey },
        this.daemonMetrics !== undefined ? { onOfferRequest: this.daemonMetrics.onOfferRequest } : {},
      )
      await this.market.start()
      if (this.leaseProvider != null) {
        this.selling = new Selling({
          market: this.market,
          leases: this.leaseProvider,
          offer: config.offer,
          advertise: async () => this.syncModels({ force: true }),
        })
      }
      // The policy speaks first: a daemon started on battery or out of hours never advertises.
      if (config.policy != null && this.selling != null) {
        const policy = config.policy
        this.resourcePolicy = createResourcePolicy(
          {
            selling: this.selling,
            activeLeases: () => this.load(false).leases.active,
            busyWorkers: () => this.computeService?.pool.stats.busy ?? 0,
            sensors: { ...defaultPolicySensors(policy.powerSupplyDir), ...this.init.policySensors },
            stateFile: dataDirPath(config.dataDir, 'policyState'),
          },
          policy,
        )
        await this.resourcePolicy.start()
      }
      await this.syncModels()
      // Amino's bootstrap peers are resolved and dialled after start, so the first advertise may have reached nobody
      // there (kad-dht provides to whoever is in the table): advertise again once the Amino table has a peer.
      this.stopping = new AbortController()
      if (config.amino != null) {
        waitForDhtPeers(node, 1, {
          dht: 'amino',
          signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(600_000)]),
        })
          .then(async () => this.market?.advertise({ signal: this.stopping.signal }))
          .catch((err: Error) => log('advertising on Amino once it had peers failed - %s', err.message))
      }
      // `parkbench model add` writes to the data dir while the daemon runs: pick new models up within seconds.
      const rescanMs = this.init.modelRescanMs ?? MODEL_RESCAN_MS
      if (rescanMs > 0) {
        this.modelsTimer = setInterval(() => {
          this.syncModels().catch((err: Error) => log.error('model rescan failed - %e', err))
        }, rescanMs)
        this.modelsTimer.unref()
      }
      this.loadMonitor.start(this.init.monitorLoad !== false)
      if (this.init.control !== false) {
        try {
          this.controlServer = await startControlServer(config.dataDir, controlRoutes(this.controlSource()))
        } catch (err) {
          // Two daemons on one data dir is an error; any other failure (a data dir path too long for a unix
          // socket, a read-only dir) costs only `parkbench status|leases`, not the node.
          if (err instanceof DaemonRunningError) throw err
          log.error('control socket unavailable, `parkbench status` and `leases` will not reach this daemon - %e', err)
        }
      }
      if (this.init.console !== undefined) {
        this.ownerConsole = await startDaemonConsole(this, this.init.console, (message) =>
          this.init.onEvent?.({ type: 'warning', message }),
        )
      }
    } catch (err) {
      await this.stop()
      throw err
    }
    log('started %p', node.peerId)
  }

  async stop(): Promise<void> {
    clearInterval(this.modelsTimer)
    this.stopping.abort()
    await this.resourcePolicy?.stop()
    this.resourcePolicy = undefined
    await this.ownerConsole?.stop()
    this.ownerConsole = undefined
    await this.controlServer?.close()
    this.controlServer = undefined
    this.loadMonitor.stop()
    await this.market?.stop()
    await this.leaseProvider?.stop()
    await this.computeService?.stop()
    await this.payments?.stop()
    await this.libp2p?.stop()
    this.market = undefined
    this.selling = undefined
    this.leaseProvider = undefined
    this.computeService = undefined
    this.payments = undefined
    this.libp2p = undefined
  }

  /** Re-sign and re-advertise the offer when the models in the store changed (`force`: whatever changed). */
  async syncModels(options: { force?: boolean } = {}): Promise<void> {
    // Paused: the offer stays withdrawn until resume() signs it again.
    if (!this.config.sell || this.market == null || this.computeService == null || this.selling?.paused != null) return
    const records = await this.computeService.store.list()
    const fingerprint = records
      .map((r) => r.sha256)
      .sort()
      .join(',')
    if (options.force !== true && fingerprint === this.advertisedModels && this.market.currentOffer() != null) return
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
      ...holePunchOf(node),
      selling: signed != null,
      ...(this.selling?.paused != null ? { paused: { ...this.selling.paused } } : {}),
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

  /**
   * Stop selling: withdraw the offer, refuse new leases BUSY and end running ones PROVIDER_PAUSED (PROVIDER_POLICY
   * when `by: 'policy'`), paid to the tick each renter prepaid. See {@link Selling.pause}.
   */
  async pause(options: { by?: PausedBy; detail?: string } = {}): Promise<void> {
    await this.sellingControl().pause(options)
  }

  /** Sell again after {@link pause}. */
  async resume(): Promise<void> {
    await this.sellingControl().resume()
  }

  /** Who paused selling and why, while it is paused. */
  get paused(): { by: PausedBy; detail: string } | undefined {
    return this.selling?.paused
  }

  /** Quote new leases at this price and re-sign and re-advertise the offer; running leases keep theirs. */
  async setPrice(pricePerSecond: bigint): Promise<void> {
    await this.sellingControl().setPrice(pricePerSecond)
  }

  private sellingControl(): Selling {
    if (this.selling == null) throw new NoPaymentTermsError('This daemon is not selling')
    return this.selling
  }

  /** Channels with accepted proofs (accepted, settled, gas) and pending settlements, when selling. */
  async channels(): Promise<Awaited<ReturnType<typeof channelReport>> | undefined> {
    return this.payments == null ? undefined : channelReport(this.payments)
  }

  /** Mined settlements, oldest first (empty when not selling). */
  async settlements(): Promise<SettlementRecord[]> {
    return this.payments?.settler.history() ?? []
  }

  /** What is for sale (advertised or, while paused, not): the config's terms and the models held. */
  async terms(): Promise<ConsoleTerms> {
    const records = (await this.computeService?.store.list()) ?? []
    return sellTerms(this.config, this.init.chain, records, this.tokenUnits?.symbol)
  }

  private load(reset: boolean): DaemonLoad {
    const active = this.leaseProvider?.leases().filter((l) => l.state !== 'ended').length ?? 0
    return this.loadMonitor.read(reset, { active, threadsFree: this.leaseProvider?.freeThreads() ?? 0 })
  }

  private controlSource(): Parameters<typeof controlRoutes>[0] {
    return {
      status: async (options) => this.status(options),
      leaseList: () => this.leaseList(),
      payments: () => this.payments,
      pause: async () => this.pause(),
      resume: async () => this.resume(),
      consoleUrl: () => this.ownerConsole?.urlWithToken(),
    }
  }

  private offerTerms(models: ModelSpec[]): OfferTerms {
    const { chain, account } = this.init
    if (chain == null || account == null) throw new NoPaymentTermsError()
    return offerTerms(this.config, chain, account, models, this.tokenUnits?.symbol)
  }
}

/** Create a daemon; call `start()` to bring it up. */
export function createDaemon(init: DaemonInit): Daemon {
  return new Daemon(init)
}

const NO_REACH: ReachabilityStatus = { reachability: 'unknown', publicAddresses: [], relayedAddresses: [], relays: [] }

/** The hole punch service's observed addresses and counters, when the node runs one (a relay client). */
function holePunchOf(node: ParkbenchNode): { holePunch?: HolePunchStatus } {
  const service = node.services.holePunch as HolePunchService | undefined
  if (service == null) return {}
  return { holePunch: { observedAddresses: service.observedAddresses().map(String), ...service.stats() } }
}

/** The node's reachability service's status, when it runs one (the swarm lab's nodes do not). */
function reachOf(node: ParkbenchNode): ReachabilityStatus {
  const service = node.services.reachability as ReachabilityService | undefined
  return service?.status() ?? NO_REACH
}
