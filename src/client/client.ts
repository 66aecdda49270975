import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Hex } from 'viem'
import { ModelNotFoundError, NotAuthorizedError } from '../compute/errors.js'
import { type InferResult, infer } from '../compute/infer.js'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { AbortedError, InvalidInputError, ParkbenchError } from '../errors.js'
import { LeaseEndedError } from '../lease/errors.js'
import { appendLeaseLog } from '../lease/lease-log.js'
import { EndReason } from '../lease/pb/lease.js'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'
import { type DiscoveredOffer, fetchOffer, peerIdOfAddress } from '../market/discover.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { createPayPublicClient, createPayWalletClient } from '../pay/clients.js'
import { openRenterPayments, type RenterPayments } from '../pay/payment-state.js'
import { ChannelBook } from './channel-book.js'
import { checkInputs } from './check-inputs.js'
import { isRenterSide, NoProviderError, PaymentNotConfiguredError, type ProviderAttempt } from './errors.js'
import type { ClientProgressEvent, ProgressOptions } from './events.js'
import { codeOf, outputs, waitPaidUp } from './job-helpers.js'
import { LeaseMaker, pushWithProgress } from './lease-maker.js'
import { type HeldLease, LeaseRegistry } from './lease-registry.js'
import { type ResolvedModel, resolveModel } from './model.js'
import { ProviderFinder } from './provider-finder.js'
import type {
  ClientInferParameters,
  ClientInferResult,
  ClientInit,
  ClientLease,
  ClientLeaseParameters,
} from './types.js'

const log = logger('parkbench:client')

/** Where a renter keeps its payment state, inside its data dir (one store per chain identity below it). */
export const RENTER_STORE_DIR = DATA_DIR_LAYOUT.renterPayments

/** Lease ends after which the provider is skipped for a while. */
const PROVIDER_GONE = new Set<string>([
  'PROVIDER_UNRESPONSIVE',
  'PROVIDER_SHUTDOWN',
  'PROVIDER_ENDED',
  'CAPACITY',
  'PROTOCOL_ERROR',
  'PROVIDER_PAUSED',
  'PROVIDER_POLICY',
])

type Options = AbortOptions & ProgressOptions

/** A relayed lease that went silent: its relay (a limit, or the relay's end) may have failed, not its provider. */
function pathFailed(held: HeldLease, summary: RenterLeaseSummary): boolean {
  return held.relayed && summary.endReason === 'PROVIDER_UNRESPONSIVE'
}

/**
 * The renter's SDK: `infer()` finds the best provider nearby (cheapest weighted by RTT), opens or reuses a payment
 * channel to it, leases its compute, pushes the model if needed, runs the job, keeps paying by the second while jobs
 * keep coming, fails over to the next provider if one fails, and ends the lease when idle. `lease()` holds a lease
 * explicitly. The renter's own mistakes (bad inputs, no funds, an unreachable chain) fail at once with their own
 * typed errors, before anything is paid.
 */
export class RenterClient {
  readonly node: ParkbenchNode
  private readonly init: ClientInit
  private readonly ownsNode: boolean
  private readonly payments: RenterPayments | undefined
  private readonly book: ChannelBook | undefined
  private readonly maker: LeaseMaker | undefined
  private readonly finder: ProviderFinder
  private readonly registry: LeaseRegistry
  private readonly summaries: RenterLeaseSummary[] = []
  private readonly logWrites = new Set<Promise<void>>()

  constructor(init: ClientInit, parts: { node: ParkbenchNode; ownsNode: boolean; payments?: RenterPayments }) {
    this.init = init
    this.node = parts.node
    this.ownsNode = parts.ownsNode
    this.payments = parts.payments
    const { chain, account } = init
    if (this.payments != null && chain != null && account != null) {
      this.book = new ChannelBook(
        {
          wallet: createPayWalletClient(chain, account),
          publicClient: createPayPublicClient(chain),
          sender: this.payments.sender,
        },
        { dataDir: init.dataDir, identity: this.payments.identity, token: init.token },
      )
    }
    this.finder = new ProviderFinder(
      { node: this.node },
      {
        chainId: chain?.chainId ?? 0,
        contract: chain?.contract ?? '0x0000000000000000000000000000000000000000',
        token: init.token,
        bootstrapped: (init.bootstrap?.length ?? 0) > 0 || init.amino != null,
        mdns: init.mdns === true,
        maxRttMs: init.maxRttMs,
        offerCacheMs: init.offerCacheMs,
        discoveryTimeoutMs: init.discoveryTimeoutMs,
        discoverySettleMs: init.discoverySettleMs,
      },
    )
    this.registry = new LeaseRegistry((held, summary) => this.recordEnded(held, summary))
    if (this.book != null && this.payments != null) {
      this.maker = new LeaseMaker(
        {
          node: this.node,
          finder: this.finder,
          book: this.book,
          registry: this.registry,
          sender: this.payments.sender,
          emit: (event, options) => this.emit(event, options),
        },
        { leaseSeconds: init.leaseSeconds, deposit: init.deposit, maxAttempts: init.maxAttempts },
      )
    }
  }

  /** @internal Resume channel opens a crash left pending. */
  async start(options: AbortOptions = {}): Promise<void> {
    await this.book?.start(options)
  }

  /** Leases ended so far, oldest first. */
  leaseHistory(): RenterLeaseSummary[] {
    return [...this.summaries]
  }

  /** Every channel this renter has opened on its chain, this run or an earlier one. */
  async channelIds(): Promise<Hex[]> {
    return (await this.book?.channelIds()) ?? []
  }

  /** What this renter has authorised on a channel so far (every tick and voucher it signed), in base units. */
  channelTotal(channelId: Hex): bigint {
    return this.payments?.sender.channelTotal(channelId) ?? 0n
  }

  /** Leases held now (automatic and explicit). */
  activeLeases(): RenterLeaseSummary[] {
    return this.registry.all().map((h) => h.lease.summary())
  }

  /**
   * Run one inference on the best provider nearby (or `provider`), leasing and paying as needed. When the caller's
   * signal ends it, the error is typed whatever layer it stopped in: an {@link AbortedError} (code `ABORTED`) with
   * the signal's reason as its cause, unless that layer already threw a parkbench error of its own.
   */
  async infer(params: ClientInferParameters, options: Options = {}): Promise<ClientInferResult> {
    try {
      return await this.inferOnce(params, options)
    } catch (err) {
      const signal = options.signal
      if (signal?.aborted !== true || err instanceof ParkbenchError) throw err
      const reason = signal.reason as { name?: string; message?: string } | undefined
      const why = reason?.name === 'TimeoutError' ? 'its deadline passed' : (reason?.message ?? 'it was aborted')
      throw new AbortedError(`The request was stopped by its caller: ${why}`, { cause: err })
    }
  }

  private async inferOnce(params: ClientInferParameters, options: Options): Promise<ClientInferResult> {
    const model = await resolveModel(params.model)
    const attempts: ProviderAttempt[] = []
    const maxAttempts = params.provider != null ? 1 : (this.init.maxAttempts ?? 3)
    while (attempts.length < maxAttempts) {
      const held =
        this.reusable(model, params) ??
        (await this.leaseMaker().first(
          { model, maxPrice: params.maxPricePerSecond, attempts, explicit: false, params },
          options,
        ))
      const peer = held.offer.peerId.toString()
      try {
        clearTimeout(held.idleTimer)
        const result = await this.run(held, model, params, options)
        this.armIdle(held)
        return result
      } catch (err) {
        if (options.signal?.aborted === true || isRenterSide(err)) {
          // The lease is still good: it ends after the idle time like any other (else it would pay on, unused).
          this.armIdle(held)
          throw err
        }
        // The provider failed mid-lease: stop paying it and try the next one.
        const message = (err as Error).message
        attempts.push({ providerPeer: peer, error: message, ...codeOf(err) })
        if (!held.relayed) this.finder.markFailed(peer)
        this.emit({ type: 'failover', from: peer, error: message }, options)
        await this.registry.end(held, EndReason.PROVIDER_UNRESPONSIVE)
      }
    }
    throw new NoProviderError(`No provider served the request after ${attempts.length} attempts`, { attempts })
  }

  /**
   * Take a lease and keep it until `end()`: on the best provider nearby (or `provider`), for `model` or any model.
   * An automatic lease `infer()` holds on a suitable provider becomes this lease (one channel, one lease at a time).
   */
  async lease(params: ClientLeaseParameters, options: Options = {}): Promise<ClientLease> {
    const model = params.model != null ? await resolveModel(params.model) : undefined
    const pinned = params.provider != null ? peerIdOfAddress(params.provider).toString() : undefined
    const adoptable = this.registry
      .automaticLeases()
      .find(
        (h) =>
          h.lease.quote.pricePerSecond <= params.maxPricePerSecond &&
          (pinned == null || h.offer.peerId.toString() === pinned) &&
          (model == null || h.named.size === 0 || h.named.has(model.sha256)),
      )
    if (adoptable != null) {
      this.registry.adopt(adoptable)
      return this.handle(adoptable)
    }
    const held = await this.leaseMaker().first(
      { model, maxPrice: params.maxPricePerSecond, attempts: [], explicit: true, params },
      options,
    )
    return this.handle(held)
  }

  /**
   * Ask a provider that sells nothing (a trusted LAN box started with `--free`) directly, unpaid; pushes the
   * model first if it lacks it.
   */
  async inferUnpaid(
    params: Omit<ClientInferParameters, 'maxPricePerSecond' | 'provider'> & { provider: Multiaddr },
    options: Options = {},
  ): Promise<InferResult> {
    const model = await resolveModel(params.model)
    const request = { model: model.sha256, inputs: params.inputs, ...outputs(params.outputNames) }
    try {
      return await infer(this.node, params.provider, request, options)
    } catch (err) {
      if (!(err instanceof ModelNotFoundError) || model.bytes == null) throw err
      await pushWithProgress({ node: this.node, emit: (e, o) => this.emit(e, o) }, params.provider, model, options)
      return infer(this.node, params.provider, request, options)
    }
  }

  /**
   * Providers near you, best first (price weighted by RTT), each with its verified offer and whether this client
   * can pay it (`payable`: its chain, contract and token).
   */
  offers(
    query: { model?: string; maxRttMs?: number; maxPricePerSecond?: bigint; timeoutMs?: number } = {},
    options: AbortOptions = {},
  ): Promise<Array<DiscoveredOffer & { payable: boolean }>> {
    return this.finder.list(query, options)
  }

  /** Whether a provider sells its compute (answers with an offer). */
  async sells(provider: Multiaddr, options: AbortOptions = {}): Promise<boolean> {
    const timeout = AbortSignal.timeout(5_000)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    try {
      await fetchOffer({ node: this.node }, provider, { signal })
      return true
    } catch {
      options.signal?.throwIfAborted()
      return false
    }
  }

  /** End the leases `infer()` holds (paying their final vouchers); the next `infer()` leases anew. */
  async endLeases(reason: EndReason = EndReason.RENTER_ENDED): Promise<RenterLeaseSummary[]> {
    return Promise.all(this.registry.automaticLeases().map(async (h) => this.registry.end(h, reason)))
  }

  /** End one automatic lease `infer()` holds (e.g. a caller that will not pay its idle seconds); false if none. */
  async endLease(leaseId: Hex, reason: EndReason = EndReason.RENTER_ENDED): Promise<boolean> {
    const held = this.registry.automaticLeases().find((h) => h.lease.leaseId === leaseId)
    if (held == null) return false
    await this.registry.end(held, reason)
    return true
  }

  /** End every lease (paying the final vouchers) and stop. */
  async close(): Promise<void> {
    await Promise.all(this.registry.all().map(async (h) => this.registry.end(h, EndReason.RENTER_ENDED)))
    await Promise.all(this.logWrites)
    if (this.ownsNode) await this.node.stop()
    await this.payments?.stop()
  }

  private leaseMaker(): LeaseMaker {
    if (this.maker == null) throw new PaymentNotConfiguredError()
    return this.maker
  }

  private emit(event: ClientProgressEvent, options: ProgressOptions = {}): void {
    options.onProgress?.(event)
    this.init.onEvent?.(event)
  }

  private handle(held: HeldLease): ClientLease {
    const { lease } = held
    return {
      leaseId: lease.leaseId,
      providerPeer: held.offer.peerId.toString(),
      pricePerSecond: lease.quote.pricePerSecond,
      get active() {
        return lease.active
      },
      ended: lease.ended.then(() => lease.summary()),
      infer: async (params, options = {}) => {
        const modelParam = params.model ?? [...held.onProvider][0]
        if (modelParam == null) throw new InvalidInputError('This lease names no model: pass one to infer()')
        const model = await resolveModel(modelParam)
        if (!lease.active) throw new LeaseEndedError(EndReason.END_REASON_UNSPECIFIED)
        return this.run(held, model, params, options)
      },
      end: async () => this.registry.end(held, EndReason.RENTER_ENDED),
      summary: () => lease.summary(),
    }
  }

  /** An automatic lease already held that can run this job. */
  private reusable(model: ResolvedModel, params: ClientInferParameters): HeldLease | undefined {
    const pinned = params.provider != null ? peerIdOfAddress(params.provider).toString() : undefined
    return this.registry
      .automaticLeases()
      .find(
        (h) =>
          (pinned == null || h.offer.peerId.toString() === pinned) &&
          h.lease.quote.pricePerSecond <= params.maxPricePerSecond &&
          (h.named.size === 0 || h.named.has(model.sha256)),
      )
  }

  /** Run one job on a held lease: check its inputs, push the model if the provider lacks it, infer. */
  private async run(
    held: HeldLease,
    model: ResolvedModel,
    params: Pick<ClientInferParameters, 'inputs' | 'outputNames'>,
    options: Options,
  ): Promise<ClientInferResult> {
    const signature = await this.leaseMaker().signatureFor(held.offer, model)
    if (signature != null) checkInputs(signature, params.inputs, params.outputNames)
    await this.leaseMaker().ensureModel(held, model, options)
    this.emit({ type: 'job:started', providerPeer: held.offer.peerId.toString(), leaseId: held.lease.leaseId }, options)
    const request = { model: model.sha256, inputs: params.inputs, ...outputs(params.outputNames) }
    let result: InferResult
    try {
      result = await infer(this.node, held.offer.peerId, request, options)
    } catch (err) {
      // A job that reached the provider just past a paid second, because this process's event loop held the next
      // tick back beyond its lead, is refused NOT_AUTHORIZED while the lease itself is fine: once that tick is
      // acknowledged, send the job again rather than fail the provider over.
      if (!(err instanceof NotAuthorizedError) || !(await waitPaidUp(held, options))) throw err
      result = await infer(this.node, held.offer.peerId, request, options)
    }
    held.jobs++
    return { ...result, providerPeer: held.offer.peerId.toString(), leaseId: held.lease.leaseId }
  }

  private armIdle(held: HeldLease): void {
    clearTimeout(held.idleTimer)
    if (held.explicit || !held.lease.active) return
    held.idleTimer = setTimeout(() => {
      this.registry.end(held, EndReason.IDLE).catch((err: Error) => log.error('ending idle lease failed - %e', err))
    }, this.init.idleMs ?? 10_000)
    held.idleTimer.unref()
  }

  /** The one place a lease's end is recorded: history, event, lease log, the provider's back-off, the channel. */
  private recordEnded(held: HeldLease, summary: RenterLeaseSummary): void {
    this.book?.release(held.channelId)
    if (PROVIDER_GONE.has(summary.endReason ?? '') && !pathFailed(held, summary)) {
      this.finder.markFailed(held.offer.peerId.toString())
    }
    this.summaries.push(summary)
    this.emit({ type: 'lease:ended', summary })
    const write = appendLeaseLog(this.init.dataDir, { role: 'renter', ...summary, endedAt: Date.now() })
      .catch((err: Error) => log.error('writing the lease log failed - %e', err))
      .finally(() => this.logWrites.delete(write))
    this.logWrites.add(write)
  }
}

/**
 * Create a renter client: a libp2p node (unless one is given) and, with `chain` and `account`, the renter's payment
 * side (it checks the chain's contract first) and its channels.
 *
 * @example
 * ```ts
 * const client = await createClient({ dataDir, chain, account, bootstrap: [addr] })
 * const { outputs, providerPeer } = await client.infer({ model: 'det.onnx', inputs, maxPricePerSecond: 10n ** 9n })
 * await client.close()
 * ```
 */
export async function createClient(init: ClientInit, options: AbortOptions = {}): Promise<RenterClient> {
  // A chain alone is read-only (offers say whether they are payable; paid calls throw PaymentNotConfiguredError).
  if (init.account != null && init.chain == null) {
    throw new InvalidInputError(
      'createClient: an account without a chain: pass the chain to pay on (e.g. loadChainConfig({ dataDir }))',
    )
  }
  let payments: RenterPayments | undefined
  if (init.chain != null && init.account != null) {
    payments = await openRenterPayments(
      { chain: init.chain, account: init.account, storeDir: join(init.dataDir, RENTER_STORE_DIR) },
      options,
    )
    for (const earlier of payments.earlier) init.onEvent?.({ type: 'warning', message: earlier.message })
  }
  const ownsNode = init.node == null
  let node: ParkbenchNode
  try {
    node =
      init.node ??
      (await createNode({
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: init.bootstrap ?? [],
        mdns: init.mdns === true,
        dhtServer: false,
        // A renter only asks: a client on Amino too, whatever the caller's settings say.
        ...(init.amino != null ? { amino: { ...init.amino, server: false } } : {}),
        relay: { client: init.relay !== false },
      }))
  } catch (err) {
    await payments?.stop()
    throw err
  }
  const client = new RenterClient(init, { node, ownsNode, ...(payments != null ? { payments } : {}) })
  try {
    await client.start(options)
  } catch (err) {
    await client.close()
    throw err
  }
  return client
}
