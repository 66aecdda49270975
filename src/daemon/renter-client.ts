import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { CODE_P2P, type Multiaddr } from '@multiformats/multiaddr'
import { type Address, getAddress, type Hex, type LocalAccount, zeroAddress } from 'viem'
import { type InferResult, infer } from '../compute/infer.js'
import { pushModel } from '../compute/model-transfer.js'
import type { TensorData, TensorLike } from '../compute/tensor.js'
import { InvalidInputError, ParkbenchError } from '../errors.js'
import { LeaseEndedError } from '../lease/errors.js'
import { EndReason } from '../lease/pb/lease.js'
import { openLease, type RenterLease, type RenterLeaseSummary } from '../lease/renter-lease.js'
import { type DiscoveredOffer, fetchOffer, findOffers, peerIdOfAddress } from '../market/discover.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'
import { getChannel } from '../pay/actions/get-channel.js'
import { openChannel } from '../pay/actions/open-channel.js'
import type { ChainIdentity } from '../pay/actions/verify-contract.js'
import type { ChainConfig } from '../pay/chain-config.js'
import {
  createPayPublicClient,
  createPayWalletClient,
  type PayPublicClient,
  type PayWalletClient,
} from '../pay/clients.js'
import { ChannelNotOpenError } from '../pay/errors.js'
import type { PaymentSender } from '../pay/payment-sender.js'
import { openRenterPayments, type RenterPayments } from '../pay/payment-state.js'
import { providerNodeId } from '../pay/provider-node.js'
import { appendLeaseLog } from './lease-log.js'

const log = logger('parkbench:client')

/** Where a renter keeps its payment state and known channels, inside its data dir. */
export const RENTER_STORE_DIR = 'renter-payments'
export const RENTER_CHANNELS_FILE = 'channels.json'

/** Lease ends after which the provider is skipped for a while. */
const PROVIDER_GONE = new Set<EndReason>([
  EndReason.PROVIDER_UNRESPONSIVE,
  EndReason.PROVIDER_SHUTDOWN,
  EndReason.PROVIDER_ENDED,
  EndReason.CAPACITY,
  EndReason.PROTOCOL_ERROR,
])

/** A provider that failed is not tried again for this long. */
const FAILED_PROVIDER_BACKOFF_MS = 30_000

/** No provider could serve the request. `attempts` says what went wrong with each one tried. */
export class NoProviderError extends ParkbenchError {
  static override name = 'NoProviderError'
  readonly attempts: Array<{ peer: string; error: string }>
  constructor(message: string, attempts: Array<{ peer: string; error: string }> = []) {
    super(
      attempts.length === 0
        ? message
        : `${message}: ${attempts.map((a) => `${a.peer.slice(-8)}: ${a.error}`).join('; ')}`,
      'NO_PROVIDER',
    )
    this.attempts = attempts
  }
}

export interface ClientInit {
  dataDir: string
  chain: ChainConfig
  /** The renter's EVM account: funds channels and signs commitments and vouchers. */
  account: LocalAccount
  /** Peers to join through. */
  bootstrap?: string[]
  /** An existing node to use instead of starting one. */
  node?: ParkbenchNode
  /** Pay in this ERC-20 instead of the native coin. */
  token?: Address
  /** Seconds per lease commitment (renewed while in use). Default 60. */
  leaseSeconds?: number
  /** End a lease after this long without jobs. Default 10 s. */
  idleMs?: number
  /** Deposit of a new channel. Default: 10 commitments at the price ceiling. */
  deposit?: bigint
  /** Only providers at most this far away, in ms. */
  maxRttMs?: number
  /** Providers tried per request before giving up. Default 3. */
  maxAttempts?: number
  /**
   * How long discovered offers are reused before the DHT is asked again (never past an offer's own expiry).
   * Default 30 s; 0 asks every time a lease is needed.
   */
  offerCacheMs?: number
  /** How long to keep looking when discovery finds no provider. Default 3 s. */
  discoveryTimeoutMs?: number
  /** Told about leases as they start and end. */
  onEvent?(event: ClientEvent): void
  /** Told, in one line each, what the user should know (e.g. the chain was reset since payment state was kept). */
  onWarning?(message: string): void
}

export type ClientEvent =
  | { type: 'lease-started'; provider: string; leaseId: Hex; pricePerSecond: bigint; channelId: Hex }
  | { type: 'lease-ended'; summary: RenterLeaseSummary }
  | { type: 'channel-opened'; provider: Address; channelId: Hex; deposit: bigint }
  | { type: 'model-pushed'; provider: string; sha256: string }
  | { type: 'failover'; from: string; error: string }
  | { type: 'lease-failed'; provider: string; error: string }

export interface ClientInferParameters {
  /** The model: a path to an .onnx file, its bytes, or its sha256 (hex) if providers already hold it. */
  model: string | Uint8Array
  inputs: Record<string, TensorLike | TensorData>
  outputNames?: string[]
  /** The most the renter pays per second of lease. */
  maxPricePerSecond: bigint
}

export interface ClientLeaseParameters {
  /** The most the renter pays per second. */
  maxPricePerSecond: bigint
  /**
   * The model the lease is for (path, bytes or sha256): the provider must hold it, or it is pushed once the lease
   * starts. Omit for a lease on any model the provider holds.
   */
  model?: string | Uint8Array
  /** Lease from this provider (a multiaddr ending in /p2p/<id>) instead of the best one discovered. */
  provider?: Multiaddr
}

/** A lease taken with `client.lease()`: jobs go to its provider only, and it lasts until `end()`. */
export interface ClientLease {
  readonly leaseId: Hex
  readonly provider: string
  readonly pricePerSecond: bigint
  /** True until the lease ends (by `end()`, or the provider ending it). */
  readonly active: boolean
  /** Resolves with the summary once the lease has ended, whoever ended it. */
  readonly ended: Promise<RenterLeaseSummary>
  infer(
    params: Pick<ClientInferParameters, 'inputs' | 'outputNames'> & { model?: string | Uint8Array },
    options?: AbortOptions,
  ): Promise<ClientInferResult>
  /** Stop paying: send the final voucher and end the lease. */
  end(): Promise<RenterLeaseSummary>
  summary(): RenterLeaseSummary
}

export interface ClientInferResult extends InferResult {
  provider: string
  leaseId: Hex
}

interface HeldLease {
  lease: RenterLease
  offer: DiscoveredOffer
  /** Models the lease was taken for; empty for any model the provider holds. */
  named: Set<string>
  /** Models the provider is known to hold: the named ones and those pushed to it. */
  onProvider: Set<string>
  idleTimer?: NodeJS.Timeout
  jobs: number
  /** Taken with `client.lease()`: never ended for idleness, never used by `client.infer()`. */
  explicit: boolean
}

/**
 * The renter's SDK: `client.infer()` finds the best provider nearby (cheapest weighted by RTT), opens or reuses a
 * payment channel to it, leases its compute, pushes the model if needed, runs the job, keeps paying by the second
 * while jobs keep coming, fails over to the next provider if one fails, and ends the lease when idle.
 */
export class Client {
  readonly node: ParkbenchNode
  private readonly init: ClientInit
  private readonly ownsNode: boolean
  private readonly payments: RenterPayments
  private readonly sender: PaymentSender
  private readonly publicClient: PayPublicClient
  private readonly wallet: PayWalletClient
  private readonly held = new Map<string, HeldLease>()
  /** Lease log appends in flight: `close()` waits for them. */
  private readonly logWrites = new Set<Promise<void>>()
  /** Leases taken with `client.lease()`. */
  private readonly explicit = new Set<HeldLease>()
  private readonly summaries: RenterLeaseSummary[] = []
  /** Providers that failed recently, until when (ms): skipped by discovery for a while, not for ever. */
  private readonly failedUntil = new Map<string, number>()
  /** Offers found recently, per model (or '' for any), with when they were found. */
  private readonly offerCache = new Map<string, { at: number; offers: DiscoveredOffer[] }>()

  constructor(init: ClientInit, parts: { node: ParkbenchNode; ownsNode: boolean; payments: RenterPayments }) {
    this.init = init
    this.node = parts.node
    this.ownsNode = parts.ownsNode
    this.payments = parts.payments
    this.sender = parts.payments.sender
    this.publicClient = createPayPublicClient(init.chain)
    this.wallet = createPayWalletClient(init.chain, init.account)
  }

  /** Leases ended so far, oldest first. */
  leaseHistory(): RenterLeaseSummary[] {
    return [...this.summaries]
  }

  /** Leases held now. */
  activeLeases(): RenterLease[] {
    return [...this.held.values(), ...this.explicit].map((h) => h.lease)
  }

  /**
   * Run one inference on the best provider nearby, leasing and paying as needed; fails over on provider failure.
   * With `provider`, only that provider is used.
   */
  async infer(
    params: ClientInferParameters & { provider?: Multiaddr },
    options: AbortOptions = {},
  ): Promise<ClientInferResult> {
    const model = await resolveModel(params.model)
    const attempts: Array<{ peer: string; error: string }> = []
    const maxAttempts = params.provider != null ? 1 : (this.init.maxAttempts ?? 3)
    while (attempts.length < maxAttempts) {
      const held = await this.leaseFor(model, params.maxPricePerSecond, attempts, options, params.provider)
      const peer = held.offer.peerId
      try {
        clearTimeout(held.idleTimer)
        const result = await this.run(held, model, params, options)
        this.armIdle(held)
        return result
      } catch (err) {
        if (options.signal?.aborted === true) throw err
        // The provider failed mid-lease: stop paying it and try the next one.
        attempts.push({ peer: peer.toString(), error: (err as Error).message })
        this.markFailed(peer.toString())
        this.init.onEvent?.({ type: 'failover', from: peer.toString(), error: (err as Error).message })
        await this.release(held, EndReason.PROVIDER_UNRESPONSIVE)
      }
    }
    throw new NoProviderError(`No provider served the request after ${attempts.length} attempts`, attempts)
  }

  /**
   * Take a lease and keep it until `end()`: on the best provider nearby (or `provider`), for `model` or any model.
   * It renews while held; jobs sent with `lease.infer()` go to that provider only, with no failover.
   */
  async lease(params: ClientLeaseParameters, options: AbortOptions = {}): Promise<ClientLease> {
    const model = params.model != null ? await resolveModel(params.model) : undefined
    const attempts: Array<{ peer: string; error: string }> = []
    const held = await this.firstLease(model, params.maxPricePerSecond, attempts, options, params.provider, true)
    return this.handle(held)
  }

  private handle(held: HeldLease): ClientLease {
    const { lease } = held
    return {
      leaseId: lease.leaseId,
      provider: held.offer.peerId.toString(),
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
      end: async () => {
        await this.release(held, EndReason.RENTER_ENDED)
        return lease.summary()
      },
      summary: () => lease.summary(),
    }
  }

  /** Run one job on a held lease, pushing the model first if the provider lacks it. */
  private async run(
    held: HeldLease,
    model: ResolvedModel,
    params: Pick<ClientInferParameters, 'inputs' | 'outputNames'>,
    options: AbortOptions,
  ): Promise<ClientInferResult> {
    const peer = held.offer.peerId
    await this.ensureModel(held, model, options)
    const result = await infer(
      this.node,
      peer,
      {
        model: model.sha256,
        inputs: params.inputs,
        ...(params.outputNames != null ? { outputNames: params.outputNames } : {}),
      },
      options,
    )
    held.jobs++
    return { ...result, provider: peer.toString(), leaseId: held.lease.leaseId }
  }

  /** End the leases `infer()` holds (paying their final vouchers); the next `infer()` leases anew. */
  async endLeases(reason: EndReason = EndReason.RENTER_ENDED): Promise<RenterLeaseSummary[]> {
    const held = [...this.held.values()]
    await Promise.all(held.map(async (h) => this.release(h, reason)))
    return held.map((h) => h.lease.summary())
  }

  /** End every lease (paying the final voucher) and stop. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.held.values(), ...this.explicit].map(async (h) => this.release(h, EndReason.RENTER_ENDED)),
    )
    await Promise.all(this.logWrites)
    if (this.ownsNode) await this.node.stop()
    await this.payments.stop()
  }

  private markFailed(peer: string): void {
    this.failedUntil.set(peer, Date.now() + FAILED_PROVIDER_BACKOFF_MS)
  }

  private armIdle(held: HeldLease): void {
    clearTimeout(held.idleTimer)
    if (held.explicit) return
    held.idleTimer = setTimeout(() => {
      this.release(held, EndReason.IDLE).catch((err: Error) => log.error('ending idle lease failed - %e', err))
    }, this.init.idleMs ?? 10_000)
    held.idleTimer.unref()
  }

  private async release(held: HeldLease, reason: EndReason): Promise<void> {
    clearTimeout(held.idleTimer)
    const key = held.offer.peerId.toString()
    if (this.held.get(key) === held) this.held.delete(key)
    if (!this.explicit.delete(held) && held.explicit) return // already ended and recorded
    const summary = await held.lease.end(reason)
    this.recordEnded(summary)
  }

  private recordEnded(summary: RenterLeaseSummary): void {
    this.summaries.push(summary)
    this.init.onEvent?.({ type: 'lease-ended', summary })
    const write = appendLeaseLog(this.init.dataDir, { role: 'renter', ...summary, endedAt: Date.now() })
      .catch((err: Error) => log.error('writing the lease log failed - %e', err))
      .finally(() => this.logWrites.delete(write))
    this.logWrites.add(write)
  }

  /** A paid-up lease on a provider that holds (or now has) the model. */
  private async leaseFor(
    model: ResolvedModel,
    maxPrice: bigint,
    attempts: Array<{ peer: string; error: string }>,
    options: AbortOptions,
    pinned?: Multiaddr,
  ): Promise<HeldLease> {
    const pinnedPeer = pinned != null ? peerIdOfAddress(pinned).toString() : undefined
    for (const held of this.held.values()) {
      if (!held.lease.active) {
        this.held.delete(held.offer.peerId.toString())
        continue
      }
      if (held.explicit || (pinnedPeer != null && held.offer.peerId.toString() !== pinnedPeer)) continue
      if (held.lease.quote.pricePerSecond > maxPrice) continue
      // A lease on any model serves this one too (`run` pushes it if the provider lacks it).
      if (held.named.size === 0 || held.named.has(model.sha256)) return held
    }
    return this.firstLease(model, maxPrice, attempts, options, pinned, false)
  }

  /**
   * Lease from the best candidate that grants one: `pinned`, or discovered offers best first. When every cached
   * offer fails, the network is asked again once.
   */
  private async firstLease(
    model: ResolvedModel | undefined,
    maxPrice: bigint,
    attempts: Array<{ peer: string; error: string }>,
    options: AbortOptions,
    pinned: Multiaddr | undefined,
    explicit: boolean,
  ): Promise<HeldLease> {
    const maxAttempts = this.init.maxAttempts ?? 3
    let found = 0
    for (let round = 0; round < 2 && attempts.length < maxAttempts; round++) {
      const { offers, cached } =
        pinned != null
          ? { offers: [await this.pinnedOffer(pinned, options)], cached: false }
          : await this.discover(model, maxPrice, options, round === 0)
      found += offers.length
      for (const offer of offers) {
        const peer = offer.peerId.toString()
        if (pinned == null && ((this.failedUntil.get(peer) ?? 0) > Date.now() || (!explicit && this.held.has(peer)))) {
          continue
        }
        if (offer.pricePerSecond > maxPrice) {
          attempts.push({ peer, error: `price ${offer.pricePerSecond}/s over the ceiling ${maxPrice}/s` })
          continue
        }
        try {
          return await this.startLease(offer, model, maxPrice, options, explicit)
        } catch (err) {
          attempts.push({ peer, error: (err as Error).message })
          this.markFailed(peer)
          this.init.onEvent?.({ type: 'lease-failed', provider: peer, error: (err as Error).message })
          if (attempts.length >= maxAttempts) break
        }
      }
      if (!cached) break
    }
    throw new NoProviderError(
      found === 0
        ? 'No provider offers this model (or the runtime) within the price'
        : attempts.length === 0
          ? 'Every provider found is busy with our leases or failed recently'
          : 'Every provider tried failed',
      attempts,
    )
  }

  /** The offer of one named provider, fetched from it directly. */
  private async pinnedOffer(addr: Multiaddr, options: AbortOptions): Promise<DiscoveredOffer> {
    const peerId = peerIdOfAddress(addr)
    await this.node.peerStore.merge(peerId, { multiaddrs: [addr.decapsulateCode(CODE_P2P)] })
    const started = performance.now()
    const verified = await fetchOffer({ node: this.node }, addr, {
      signal: options.signal ?? AbortSignal.timeout(10_000),
    })
    if (!this.usable(verified.offer)) {
      throw new NoProviderError(`Provider ${peerId.toString()} is not paid on this chain, contract and token`)
    }
    const rttMs = performance.now() - started
    return {
      peerId,
      multiaddrs: [addr],
      offer: verified.offer,
      signed: verified.signed,
      rttMs,
      score: 0,
      pricePerSecond: verified.offer.pricePerSecond,
    }
  }

  /** Is an offer paid on our chain, contract and token? */
  private usable(offer: DiscoveredOffer['offer']): boolean {
    return (
      Number(offer.chainId) === this.init.chain.chainId &&
      Buffer.from(offer.channelContract).equals(Buffer.from(this.init.chain.contract.slice(2), 'hex')) &&
      (offer.token.length === 0
        ? this.init.token == null
        : this.init.token != null && Buffer.from(offer.token).equals(Buffer.from(this.init.token.slice(2), 'hex')))
    )
  }

  /**
   * Offers for `model` (holders first; else any provider of the runtime, if we can push the model), best first.
   * Reused for `offerCacheMs`, and never past an offer's expiry.
   */
  private async discover(
    model: ResolvedModel | undefined,
    maxPrice: bigint,
    options: AbortOptions,
    useCache = true,
  ): Promise<{ offers: DiscoveredOffer[]; cached: boolean }> {
    const cacheMs = this.init.offerCacheMs ?? 30_000
    const key = `${model?.sha256 ?? ''}:${maxPrice}`
    const cached = this.offerCache.get(key)
    const nowMs = Date.now()
    if (useCache && cached != null && nowMs - cached.at < cacheMs) {
      // Cached offers still valid, from providers that have not failed since.
      const fresh = cached.offers.filter(
        (o) => Number(o.offer.expiresAtMs) > nowMs + 5_000 && (this.failedUntil.get(o.peerId.toString()) ?? 0) <= nowMs,
      )
      if (fresh.length > 0) return { offers: fresh, cached: true }
    }
    if (this.init.bootstrap != null && this.init.bootstrap.length > 0) {
      await waitForDhtPeers(this.node, 1, { signal: options.signal ?? AbortSignal.timeout(10_000) })
    }
    const query = {
      maxPricePerSecond: maxPrice,
      timeoutMs: 3_000,
      ...(this.init.maxRttMs != null ? { maxRttMs: this.init.maxRttMs } : {}),
    }
    // A lookup on a small network is quick (ms); providers that just started may not have stored their records
    // yet, so an empty answer is asked again for a few seconds before giving up.
    const deadline = Date.now() + (this.init.discoveryTimeoutMs ?? 3_000)
    let offers: DiscoveredOffer[] = []
    for (let wait = 100; offers.length === 0; wait = Math.min(wait * 2, 1_000)) {
      offers = await this.lookup(model, query, options)
      if (offers.length > 0 || Date.now() + wait > deadline) break
      await new Promise((r) => setTimeout(r, wait))
      if (options.signal?.aborted === true) break
    }
    if (cacheMs > 0 && offers.length > 0) this.offerCache.set(key, { at: nowMs, offers })
    return { offers, cached: false }
  }

  private async lookup(
    model: ResolvedModel | undefined,
    query: Parameters<typeof findOffers>[1],
    options: AbortOptions,
  ): Promise<DiscoveredOffer[]> {
    const find = async (q: Parameters<typeof findOffers>[1]): Promise<DiscoveredOffer[]> =>
      (await findOffers({ node: this.node }, q, options)).filter((o) => this.usable(o.offer))
    const holders = model == null ? [] : await find({ ...query, model: model.sha256 })
    // Nobody holds it (or any model will do): any provider of the runtime, and we push the model.
    if (holders.length > 0 || (model != null && model.bytes == null)) return holders
    return find(query)
  }

  private async startLease(
    offer: DiscoveredOffer,
    model: ResolvedModel | undefined,
    maxPrice: bigint,
    options: AbortOptions,
    explicit: boolean,
  ): Promise<HeldLease> {
    const holds =
      model != null && offer.offer.models.some((m) => Buffer.from(m.sha256).toString('hex') === model.sha256)
    const seconds = Math.min(this.init.leaseSeconds ?? 60, offer.offer.maxLeaseSeconds)
    const channelId = await this.channelTo(offer, maxPrice * BigInt(seconds), options)
    const lease = await openLease(
      { node: this.node, sender: this.sender },
      {
        provider: offer.peerId,
        providerPeerId: offer.peerId,
        channelId,
        models: holds ? [model!.sha256] : [],
        maxPricePerSecond: maxPrice,
        seconds,
      },
      options,
    )
    const named = holds ? [model!.sha256] : []
    const held: HeldLease = { lease, offer, named: new Set(named), onProvider: new Set(named), jobs: 0, explicit }
    // One lease per provider for `infer()`; explicit leases are the caller's own and kept apart.
    if (!explicit) this.held.set(offer.peerId.toString(), held)
    else this.explicit.add(held)
    this.init.onEvent?.({
      type: 'lease-started',
      provider: offer.peerId.toString(),
      leaseId: lease.leaseId,
      pricePerSecond: lease.quote.pricePerSecond,
      channelId,
    })
    void lease.ended.then((reason) => {
      // A provider that went quiet or is going away is not offered the next lease either.
      if (PROVIDER_GONE.has(reason)) this.markFailed(offer.peerId.toString())
      if (this.held.get(offer.peerId.toString()) === held || this.explicit.has(held)) {
        this.held.delete(offer.peerId.toString())
        this.explicit.delete(held)
        this.recordEnded(lease.summary())
      }
    })
    try {
      await lease.waitPaidUp(options)
      if (model != null) await this.ensureModel(held, model, options)
    } catch (err) {
      await this.release(held, EndReason.PROTOCOL_ERROR)
      throw err
    }
    return held
  }

  private async ensureModel(held: HeldLease, model: ResolvedModel, options: AbortOptions): Promise<void> {
    if (held.onProvider.has(model.sha256) || model.bytes == null) return
    await pushModel(this.node, held.offer.peerId, model.bytes, { ...options, name: model.name })
    held.onProvider.add(model.sha256)
    this.init.onEvent?.({ type: 'model-pushed', provider: held.offer.peerId.toString(), sha256: model.sha256 })
  }

  /**
   * An open channel to the offer's node and payout address: reused if we have one that can pay `needed`, else a new
   * one (a remembered channel that no longer exists on-chain is forgotten).
   */
  private async channelTo(offer: DiscoveredOffer, needed: bigint, options: AbortOptions): Promise<Hex> {
    const provider = {
      payoutAddress: getAddress(`0x${Buffer.from(offer.offer.payoutAddress).toString('hex')}`),
      peer: offer.peerId.toString(),
    }
    const token = this.init.token
    const identity = this.payments.identity
    const known = await readChannels(join(this.init.dataDir, RENTER_CHANNELS_FILE))
    const existing = known[channelKey(identity, provider, token)]
    if (existing != null) {
      try {
        const state = await getChannel(
          this.publicClient,
          { contract: this.init.chain.contract, channelId: existing },
          options,
        )
        const spent =
          this.sender.channelTotal(existing) > state.settled ? this.sender.channelTotal(existing) : state.settled
        if (state.deposit > 0n && state.closeRequestedAt === 0n && state.deposit - spent >= needed) return existing
      } catch (err) {
        if (!(err instanceof ChannelNotOpenError)) throw err
        log('remembered channel %s to %s no longer exists; opening a new one', existing, provider.peer)
      }
    }
    const deposit = this.init.deposit ?? needed * 10n
    const opened = await openChannel(this.wallet, {
      contract: this.init.chain.contract,
      provider: provider.payoutAddress,
      providerNode: providerNodeId(offer.peerId.toMultihash().bytes),
      amount: deposit,
      ...(token != null ? { token } : {}),
    })
    await rememberChannel(this.init.dataDir, identity, provider, token, opened.channelId)
    this.init.onEvent?.({
      type: 'channel-opened',
      provider: provider.payoutAddress,
      channelId: opened.channelId,
      deposit: opened.deposit,
    })
    return opened.channelId
  }
}

interface ResolvedModel {
  sha256: string
  bytes?: Uint8Array
  name: string
}

async function resolveModel(model: string | Uint8Array): Promise<ResolvedModel> {
  if (typeof model !== 'string') {
    return { sha256: createHash('sha256').update(model).digest('hex'), bytes: model, name: 'model.onnx' }
  }
  if (/^[0-9a-fA-F]{64}$/.test(model)) return { sha256: model.toLowerCase(), name: model.toLowerCase() }
  let bytes: Uint8Array
  try {
    bytes = await readFile(model)
  } catch (err) {
    throw new InvalidInputError(`Cannot read model ${model}: ${(err as Error).message}`, { cause: err })
  }
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes,
    name: model.split(/[\\/]/).pop() ?? 'model.onnx',
  }
}

/** A channel's far end: the payout address it pays and the node it is bound to. */
export interface ChannelProvider {
  payoutAddress: Address
  /** The provider node's peer id. */
  peer: string
}

// Keyed by the chain's identity (chain id, contract and genesis): a restarted dev chain starts with no channels.
function channelKey(identity: Pick<ChainIdentity, 'key'>, provider: ChannelProvider, token?: Address): string {
  return `${identity.key}:${provider.payoutAddress.toLowerCase()}:${provider.peer}:${(token ?? zeroAddress).toLowerCase()}`
}

/** Record a renter's channel to `provider` in `<dataDir>/channels.json`, so the client reuses it. */
export async function rememberChannel(
  dataDir: string,
  identity: Pick<ChainIdentity, 'key'>,
  provider: ChannelProvider,
  token: Address | undefined,
  channelId: Hex,
): Promise<void> {
  const file = join(dataDir, RENTER_CHANNELS_FILE)
  const known = await readChannels(file)
  known[channelKey(identity, provider, token)] = channelId
  await writeChannels(file, known)
}

async function readChannels(file: string): Promise<Record<string, Hex>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, Hex>
  } catch {
    return {}
  }
}

async function writeChannels(file: string, channels: Record<string, Hex>): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(channels, null, 2)}\n`)
  await rename(tmp, file)
}

/**
 * Create a renter client: a libp2p node (unless one is given), the renter's payment store and sender.
 *
 * @example
 * ```ts
 * const client = await createClient({ dataDir, chain, account, bootstrap: [addr] })
 * const { outputs, provider } = await client.infer({ model: 'det.onnx', inputs, maxPricePerSecond: 10n ** 9n })
 * await client.close()
 * ```
 */
export async function createClient(init: ClientInit): Promise<Client> {
  const ownsNode = init.node == null
  const node =
    init.node ??
    (await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: init.bootstrap ?? [], dhtServer: false }))
  let payments: RenterPayments
  try {
    payments = await openRenterPayments({
      chain: init.chain,
      account: init.account,
      storeDir: join(init.dataDir, RENTER_STORE_DIR),
    })
  } catch (err) {
    if (ownsNode) await node.stop()
    throw err
  }
  for (const earlier of payments.earlier) init.onWarning?.(earlier.message)
  return new Client(init, { node, ownsNode, payments })
}
