import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Address, getAddress, type Hex, type LocalAccount } from 'viem'
import { InvalidInferenceInputError, ModelNotFoundError } from '../compute/errors.js'
import { type InferResult, infer } from '../compute/infer.js'
import { pushModel } from '../compute/model-transfer.js'
import type { TensorData, TensorLike } from '../compute/tensor.js'
import { DATA_DIR_LAYOUT } from '../data-dir.js'
import { InvalidInputError } from '../errors.js'
import { LeaseEndedError } from '../lease/errors.js'
import { appendLeaseLog } from '../lease/lease-log.js'
import { EndReason } from '../lease/pb/lease.js'
import { openLease, type RenterLeaseSummary } from '../lease/renter-lease.js'
import { type DiscoveredOffer, fetchOffer, peerIdOfAddress } from '../market/discover.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { createPayPublicClient, createPayWalletClient } from '../pay/clients.js'
import { ChainError, PayError } from '../pay/errors.js'
import { openRenterPayments, type RenterPayments } from '../pay/payment-state.js'
import { providerNodeId } from '../pay/provider-node.js'
import { ChannelBook } from './channel-book.js'
import { checkInputs, type Signature, signatureOfBytes, signatureOfSpec } from './check-inputs.js'
import { InsufficientBalanceError, NoProviderError, PaymentNotConfiguredError, type ProviderAttempt } from './errors.js'
import type { ClientProgressEvent, ProgressOptions } from './events.js'
import { type HeldLease, LeaseRegistry } from './lease-registry.js'
import { type ResolvedModel, resolveModel } from './model.js'
import { ProviderFinder } from './provider-finder.js'

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
])

export interface ClientInit {
  dataDir: string
  /**
   * The chain to pay on. With `account`: rents paid compute. Alone: finds offers and says which are payable, but
   * pays nothing. Without either: only free providers (`inferUnpaid`).
   */
  chain?: ChainConfig | undefined
  /** The renter's EVM account: funds channels and signs commitments and vouchers. */
  account?: LocalAccount | undefined
  /** Peers to join through. */
  bootstrap?: string[]
  /** Find peers on the LAN by mDNS (multicast). */
  mdns?: boolean
  /** An existing node to use instead of starting one. */
  node?: ParkbenchNode
  /** Pay in this ERC-20 instead of the native coin. */
  token?: Address
  /** Seconds per lease commitment (renewed while in use). Default 60. */
  leaseSeconds?: number
  /** End an automatic lease after this long without jobs. Default 10 s. */
  idleMs?: number
  /** Deposit of a new channel. Default: 10 commitments at the price ceiling. */
  deposit?: bigint
  /** Only providers at most this far away, in ms. */
  maxRttMs?: number
  /** Providers tried per request before giving up. Default 3. */
  maxAttempts?: number
  /** How long discovered offers are reused (never past an offer's expiry). Default 30 s; 0 asks every time. */
  offerCacheMs?: number
  /** How long to keep looking when discovery finds no provider. Default 3 s. */
  discoveryTimeoutMs?: number
  /** Every event the client reports, including leases that end on their own (idle, ended by the provider). */
  onEvent?(event: ClientProgressEvent): void
  /** Told, in one line each, what the user should know (e.g. the chain was reset since payment state was kept). */
  onWarning?(message: string): void
}

export interface ClientInferParameters {
  /** The model: a path to an .onnx file, its bytes, or its sha256 (hex) if providers already hold it. */
  model: string | Uint8Array
  inputs: Record<string, TensorLike | TensorData>
  outputNames?: string[]
  /** The most the renter pays per second of lease. */
  maxPricePerSecond: bigint
  /** Only this provider (a multiaddr ending in /p2p/<id>), no failover. */
  provider?: Multiaddr
}

export interface ClientLeaseParameters {
  maxPricePerSecond: bigint
  /** The model the lease is for (path, bytes or sha256); pushed once the lease starts if the provider lacks it. */
  model?: string | Uint8Array
  /** Lease from this provider (a multiaddr ending in /p2p/<id>) instead of the best one discovered. */
  provider?: Multiaddr
}

export interface ClientInferResult extends InferResult {
  /** The provider's peer id. */
  providerPeer: string
  leaseId: Hex
}

/** A lease taken with `client.lease()`: jobs go to its provider only, and it lasts until `end()`. */
export interface ClientLease {
  readonly leaseId: Hex
  readonly providerPeer: string
  readonly pricePerSecond: bigint
  readonly active: boolean
  /** Resolves with the summary once the lease has ended, whoever ended it. */
  readonly ended: Promise<RenterLeaseSummary>
  infer(
    params: Pick<ClientInferParameters, 'inputs' | 'outputNames'> & { model?: string | Uint8Array },
    options?: AbortOptions & ProgressOptions,
  ): Promise<ClientInferResult>
  /** Stop paying: send the final voucher and end the lease. */
  end(): Promise<RenterLeaseSummary>
  summary(): RenterLeaseSummary
}

/** Errors that are the renter's own (or its chain's), never a provider's: no failover, reported as they are. */
function isRenterSide(err: unknown): boolean {
  return (
    err instanceof InvalidInferenceInputError ||
    err instanceof InvalidInputError ||
    err instanceof InsufficientBalanceError ||
    err instanceof PaymentNotConfiguredError ||
    err instanceof ChainError ||
    (err instanceof PayError && err.name === 'UnknownContractError')
  )
}

type Options = AbortOptions & ProgressOptions

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
  private readonly finder: ProviderFinder
  private readonly registry: LeaseRegistry
  private readonly summaries: RenterLeaseSummary[] = []
  private readonly logWrites = new Set<Promise<void>>()
  private readonly signatures = new Map<string, Promise<Signature>>()

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
        bootstrapped: (init.bootstrap?.length ?? 0) > 0,
        mdns: init.mdns === true,
        maxRttMs: init.maxRttMs,
        offerCacheMs: init.offerCacheMs,
        discoveryTimeoutMs: init.discoveryTimeoutMs,
      },
    )
    this.registry = new LeaseRegistry((held, summary) => this.recordEnded(held, summary))
  }

  /** @internal Resume channel opens a crash left pending. */
  async start(options: AbortOptions = {}): Promise<void> {
    await this.book?.start(options)
  }

  /** Leases ended so far, oldest first. */
  leaseHistory(): RenterLeaseSummary[] {
    return [...this.summaries]
  }

  /** Leases held now (automatic and explicit). */
  activeLeases(): RenterLeaseSummary[] {
    return this.registry.all().map((h) => h.lease.summary())
  }

  /** Run one inference on the best provider nearby (or `provider`), leasing and paying as needed. */
  async infer(params: ClientInferParameters, options: Options = {}): Promise<ClientInferResult> {
    const model = await resolveModel(params.model)
    const attempts: ProviderAttempt[] = []
    const maxAttempts = params.provider != null ? 1 : (this.init.maxAttempts ?? 3)
    while (attempts.length < maxAttempts) {
      const held =
        this.reusable(model, params) ??
        (await this.firstLease(
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
        if (options.signal?.aborted === true) throw err
        if (isRenterSide(err)) {
          this.armIdle(held)
          throw err
        }
        // The provider failed mid-lease: stop paying it and try the next one.
        const message = (err as Error).message
        attempts.push({ providerPeer: peer, error: message, ...codeOf(err) })
        this.finder.markFailed(peer)
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
    const held = await this.firstLease(
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
      await this.push(peerIdOfAddress(params.provider).toString(), params.provider, model, options)
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

  /** End every lease (paying the final vouchers) and stop. */
  async close(): Promise<void> {
    await Promise.all(this.registry.all().map(async (h) => this.registry.end(h, EndReason.RENTER_ENDED)))
    await Promise.all(this.logWrites)
    if (this.ownsNode) await this.node.stop()
    await this.payments?.stop()
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
    const signature = await this.signatureFor(held.offer, model)
    if (signature != null) checkInputs(signature, params.inputs, params.outputNames)
    await this.ensureModel(held, model, options)
    const result = await infer(
      this.node,
      held.offer.peerId,
      { model: model.sha256, inputs: params.inputs, ...outputs(params.outputNames) },
      options,
    )
    held.jobs++
    return { ...result, providerPeer: held.offer.peerId.toString(), leaseId: held.lease.leaseId }
  }

  /** The model's signature: as the offer lists it, else read from the bytes the renter will push. */
  private async signatureFor(offer: DiscoveredOffer, model: ResolvedModel): Promise<Signature | undefined> {
    const spec = offer.offer.models.find((m) => Buffer.from(m.sha256).toString('hex') === model.sha256)
    if (spec != null && spec.inputs.length > 0) return signatureOfSpec(spec)
    if (model.bytes == null) return undefined
    let signature = this.signatures.get(model.sha256)
    if (signature == null) {
      signature = signatureOfBytes(model.bytes)
      this.signatures.set(model.sha256, signature)
      signature.catch(() => this.signatures.delete(model.sha256))
    }
    return signature
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
    if (PROVIDER_GONE.has(summary.endReason ?? '')) {
      this.finder.markFailed(held.offer.peerId.toString())
    }
    this.summaries.push(summary)
    this.emit({ type: 'lease:ended', summary })
    const write = appendLeaseLog(this.init.dataDir, { role: 'renter', ...summary, endedAt: Date.now() })
      .catch((err: Error) => log.error('writing the lease log failed - %e', err))
      .finally(() => this.logWrites.delete(write))
    this.logWrites.add(write)
  }

  /**
   * Lease from the best candidate that grants one: the pinned provider, or discovered offers best first. When
   * every cached offer fails, the network is asked again once.
   */
  private async firstLease(
    want: {
      model: ResolvedModel | undefined
      maxPrice: bigint
      attempts: ProviderAttempt[]
      explicit: boolean
      params: { provider?: Multiaddr; inputs?: ClientInferParameters['inputs']; outputNames?: string[] }
    },
    options: Options,
  ): Promise<HeldLease> {
    if (this.book == null || this.payments == null) throw new PaymentNotConfiguredError()
    const { model, maxPrice, attempts, explicit, params } = want
    const maxAttempts = this.init.maxAttempts ?? 3
    let found = 0
    let affordable = 0
    let cheapest: bigint | undefined
    for (let round = 0; round < 2 && attempts.length < maxAttempts; round++) {
      const { offers, cached } =
        params.provider != null
          ? { offers: [await this.finder.pinned(params.provider, options)], cached: false }
          : await this.finder.find(model == null ? undefined : { sha256: model.sha256, canPush: model.bytes != null }, {
              ...options,
              useCache: round === 0,
            })
      this.emit({ type: 'discovery:found', offers: offers.length, cached }, options)
      found += offers.length
      for (const offer of offers) {
        const peer = offer.peerId.toString()
        if (cheapest == null || offer.pricePerSecond < cheapest) cheapest = offer.pricePerSecond
        if (offer.pricePerSecond > maxPrice) continue
        affordable++
        if (
          params.provider == null &&
          (this.finder.failedRecently(peer) || (!explicit && this.registry.automaticOn(peer)))
        ) {
          continue
        }
        // The renter's own mistake in its inputs is caught here, before any channel or tick.
        if (model != null && params.inputs != null) {
          const signature = await this.signatureFor(offer, model)
          if (signature != null) checkInputs(signature, params.inputs, params.outputNames)
        }
        try {
          return await this.startLease(offer, model, maxPrice, explicit, options)
        } catch (err) {
          if (options.signal?.aborted === true || isRenterSide(err)) throw err
          const message = (err as Error).message
          attempts.push({ providerPeer: peer, error: message, ...codeOf(err) })
          this.finder.markFailed(peer)
          this.emit({ type: 'lease:failed', providerPeer: peer, error: message }, options)
          if (attempts.length >= maxAttempts) break
        }
      }
      if (!cached) break
    }
    if (found > 0 && affordable === 0) {
      throw new NoProviderError(
        `Every provider found is over the ceiling of ${maxPrice}/s; the cheapest asks ${cheapest}/s`,
        { attempts, ...(cheapest != null ? { cheapestPricePerSecond: cheapest } : {}) },
      )
    }
    throw new NoProviderError(
      found === 0
        ? 'No provider offers this model (or the runtime)'
        : attempts.length === 0
          ? 'Every provider found is busy with our leases or failed recently'
          : 'Every provider tried failed',
      { attempts },
    )
  }

  private async startLease(
    offer: DiscoveredOffer,
    model: ResolvedModel | undefined,
    maxPrice: bigint,
    explicit: boolean,
    options: Options,
  ): Promise<HeldLease> {
    const book = this.book!
    const peer = offer.peerId.toString()
    const holds =
      model != null && offer.offer.models.some((m) => Buffer.from(m.sha256).toString('hex') === model.sha256)
    const seconds = Math.min(this.init.leaseSeconds ?? 60, offer.offer.maxLeaseSeconds)
    const needed = maxPrice * BigInt(seconds)
    const channelId = await book.acquire(
      {
        payoutAddress: getAddress(`0x${Buffer.from(offer.offer.payoutAddress).toString('hex')}`),
        providerPeer: peer,
        providerNode: providerNodeId(offer.peerId.toMultihash().bytes),
      },
      needed,
      { ...options, deposit: this.init.deposit ?? needed * 10n },
    )
    let lease: Awaited<ReturnType<typeof openLease>>
    try {
      lease = await openLease(
        { node: this.node, sender: this.payments!.sender },
        {
          provider: offer.peerId,
          providerPeerId: offer.peerId,
          channelId,
          models: holds ? [model.sha256] : [],
          maxPricePerSecond: maxPrice,
          seconds,
        },
        options,
      )
    } catch (err) {
      book.release(channelId)
      throw err
    }
    const named = holds ? [model.sha256] : []
    const held: HeldLease = {
      lease,
      offer,
      channelId,
      named: new Set(named),
      onProvider: new Set(named),
      jobs: 0,
      explicit,
    }
    this.registry.add(held)
    const price = lease.quote.pricePerSecond
    this.emit(
      { type: 'lease:started', providerPeer: peer, leaseId: lease.leaseId, pricePerSecond: price, channelId },
      options,
    )
    try {
      await lease.waitPaidUp(options)
      if (model != null) await this.ensureModel(held, model, options)
    } catch (err) {
      await this.registry.end(held, EndReason.PROTOCOL_ERROR)
      throw err
    }
    return held
  }

  private async ensureModel(held: HeldLease, model: ResolvedModel, options: Options): Promise<void> {
    if (held.onProvider.has(model.sha256) || model.bytes == null) return
    await this.push(held.offer.peerId.toString(), held.offer.peerId, model, options)
    held.onProvider.add(model.sha256)
  }

  private async push(
    providerPeer: string,
    to: Parameters<typeof pushModel>[1],
    model: ResolvedModel,
    options: Options,
  ): Promise<void> {
    const sha256 = model.sha256
    await pushModel(this.node, to, model.bytes!, {
      ...options,
      name: model.name,
      onProgress: (p) =>
        options.onProgress?.({ type: 'model:pushing', providerPeer, sha256, bytes: p.bytes, totalBytes: p.totalBytes }),
    })
    this.emit({ type: 'model:pushed', providerPeer, sha256 }, options)
  }
}

function outputs(names: string[] | undefined): { outputNames?: string[] } {
  return names != null && names.length > 0 ? { outputNames: names } : {}
}

function codeOf(err: unknown): { code?: string } {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' ? { code } : {}
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
    for (const earlier of payments.earlier) init.onWarning?.(earlier.message)
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
