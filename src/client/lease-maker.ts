import type { AbortOptions, PeerId } from '@libp2p/interface'
import { isMultiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { getAddress } from 'viem'
import { pushModel } from '../compute/model-transfer.js'
import { EndReason } from '../lease/pb/lease.js'
import { openLease } from '../lease/renter-lease.js'
import { type DiscoveredOffer, peerIdOfAddress } from '../market/discover.js'
import type { ParkbenchNode } from '../net/create-node.js'
import type { PaymentSender } from '../pay/payment-sender.js'
import { providerNodeId } from '../pay/provider-node.js'
import type { ChannelBook } from './channel-book.js'
import { checkInputs, type Signature, signatureOfBytes, signatureOfSpec } from './check-inputs.js'
import { isRenterSide, NoProviderError, type ProviderAttempt } from './errors.js'
import type { ClientProgressEvent, ProgressOptions } from './events.js'
import type { HeldLease, LeaseRegistry } from './lease-registry.js'
import type { ResolvedModel } from './model.js'
import type { ProviderFinder } from './provider-finder.js'

type Options = AbortOptions & ProgressOptions
type CheckedInputs = Parameters<typeof checkInputs>[1]

export interface LeaseMakerComponents {
  node: ParkbenchNode
  finder: ProviderFinder
  book: ChannelBook
  registry: LeaseRegistry
  sender: Pick<PaymentSender, 'startLease' | 'renewLease' | 'nextTick' | 'endLease' | 'channelTotal'>
  /** Report an event to the call's `onProgress` and the client's `onEvent`. */
  emit(event: ClientProgressEvent, options?: ProgressOptions): void
}

export interface LeaseMakerInit {
  /** Seconds per lease commitment (renewed while in use). Default 60. */
  leaseSeconds?: number | undefined
  /** Deposit of a new channel. Default: 10 commitments at the price ceiling. */
  deposit?: bigint | undefined
  /** Providers tried before giving up. Default 3. */
  maxAttempts?: number | undefined
}

/** What a new lease is for. */
export interface LeaseWant {
  model: ResolvedModel | undefined
  maxPrice: bigint
  /** Failures so far (appended to): the providers tried and why each failed. */
  attempts: ProviderAttempt[]
  explicit: boolean
  params: { provider?: Multiaddr; inputs?: CheckedInputs; outputNames?: string[] }
}

/**
 * Makes the renter's leases: picks the best usable offer (or the pinned provider), checks the job's inputs against
 * the model's signature before anything is paid, takes a channel from the book, negotiates the lease, waits for the
 * first paid second and pushes the model if the provider lacks it. The renter's own failures end the attempt at
 * once; a provider's are recorded and the next provider is tried.
 */
export class LeaseMaker {
  private readonly components: LeaseMakerComponents
  private readonly init: LeaseMakerInit
  private readonly signatures = new Map<string, Promise<Signature>>()

  constructor(components: LeaseMakerComponents, init: LeaseMakerInit = {}) {
    this.components = components
    this.init = init
  }

  /** The model's signature: as the offer lists it, else read from the bytes the renter will push. */
  async signatureFor(offer: DiscoveredOffer, model: ResolvedModel): Promise<Signature | undefined> {
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

  /**
   * Lease from the best candidate that grants one: the pinned provider, or discovered offers best first. When
   * every cached offer fails, the network is asked again once.
   */
  async first(want: LeaseWant, options: Options): Promise<HeldLease> {
    const { model, maxPrice, attempts, explicit, params } = want
    const maxAttempts = this.init.maxAttempts ?? 3
    let found = 0
    let affordable = 0
    let cheapest: bigint | undefined
    for (let round = 0; round < 2 && attempts.length < maxAttempts; round++) {
      const { offers, cached } =
        params.provider != null
          ? { offers: [await this.components.finder.pinned(params.provider, options)], cached: false }
          : await this.components.finder.find(
              model == null ? undefined : { sha256: model.sha256, canPush: model.bytes != null },
              {
                ...options,
                useCache: round === 0,
              },
            )
      this.components.emit({ type: 'discovery:found', offers: offers.length, cached }, options)
      found += offers.length
      for (const offer of offers) {
        const peer = offer.peerId.toString()
        if (cheapest == null || offer.pricePerSecond < cheapest) cheapest = offer.pricePerSecond
        if (offer.pricePerSecond > maxPrice) continue
        affordable++
        if (
          params.provider == null &&
          (this.components.finder.failedRecently(peer) || (!explicit && this.components.registry.automaticOn(peer)))
        ) {
          continue
        }
        // The renter's own mistake in its inputs is caught here, before any channel or tick.
        if (model != null && params.inputs != null) {
          const signature = await this.signatureFor(offer, model)
          if (signature != null) checkInputs(signature, params.inputs, params.outputNames)
        }
        try {
          return await this.start(offer, model, maxPrice, explicit, options)
        } catch (err) {
          if (options.signal?.aborted === true || isRenterSide(err)) throw err
          const message = (err as Error).message
          attempts.push({ providerPeer: peer, error: message, ...codeOf(err) })
          this.components.finder.markFailed(peer)
          this.components.emit({ type: 'lease:failed', providerPeer: peer, error: message }, options)
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
      { attempts, found },
    )
  }

  private async start(
    offer: DiscoveredOffer,
    model: ResolvedModel | undefined,
    maxPrice: bigint,
    explicit: boolean,
    options: Options,
  ): Promise<HeldLease> {
    const book = this.components.book
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
        { node: this.components.node, sender: this.components.sender },
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
    const connections = this.components.node.getConnections(offer.peerId)
    const held: HeldLease = {
      lease,
      offer,
      channelId,
      named: new Set(named),
      onProvider: new Set(named),
      jobs: 0,
      explicit,
      relayed: connections.length > 0 && connections.every((c) => c.limits != null),
    }
    this.components.registry.add(held)
    const price = lease.quote.pricePerSecond
    this.components.emit(
      { type: 'lease:started', providerPeer: peer, leaseId: lease.leaseId, pricePerSecond: price, channelId },
      options,
    )
    try {
      await lease.waitPaidUp(options)
      if (model != null) await this.ensureModel(held, model, options)
    } catch (err) {
      await this.components.registry.end(held, EndReason.PROTOCOL_ERROR)
      throw err
    }
    return held
  }

  async ensureModel(held: HeldLease, model: ResolvedModel, options: Options): Promise<void> {
    if (held.onProvider.has(model.sha256) || model.bytes == null) return
    await pushWithProgress(this.components, held.offer.peerId, model, options)
    held.onProvider.add(model.sha256)
  }
}

/** Push a model the renter holds to a provider, reporting `model:pushing` and `model:pushed`. */
export async function pushWithProgress(
  components: Pick<LeaseMakerComponents, 'node' | 'emit'>,
  to: PeerId | Multiaddr,
  model: ResolvedModel,
  options: Options,
): Promise<void> {
  if (model.bytes == null) return
  const providerPeer = isMultiaddr(to) ? peerIdOfAddress(to).toString() : to.toString()
  const sha256 = model.sha256
  await pushModel(components.node, to, model.bytes, {
    ...options,
    name: model.name,
    onProgress: (p) =>
      options.onProgress?.({ type: 'model:pushing', providerPeer, sha256, bytes: p.bytes, totalBytes: p.totalBytes }),
  })
  components.emit({ type: 'model:pushed', providerPeer, sha256 }, options)
}

function codeOf(err: unknown): { code?: string } {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' ? { code } : {}
}
