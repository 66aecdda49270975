import { setMaxListeners } from 'node:events'
import type { AbortOptions, ContentRouting, PeerId, PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { InvalidInputError } from '../errors.js'
import { StreamLimitError } from '../net/errors.js'
import { type RpcNode, serveProtocol } from '../net/rpc.js'
import { keyToCid, modelKey, ONNX_CPU_RUNTIME, runtimeKey } from './capability-keys.js'
import { OFFER_PROTOCOL, OFFER_PROTOCOL_LIMITS } from './constants.js'
import { fitOfferModels, OFFER_LIMITS, signOffer } from './offer.js'
import { type ModelSpec, type Offer, OfferRequest, OfferResponse, type SignedOffer } from './pb/market.js'

const log = logger('parkbench:market')

export type Address = `0x${string}`

/** What an owner sells: set from config, updated when models or prices change. */
export interface OfferTerms {
  payoutAddress: Address
  chainId: bigint
  channelContract: Address
  /** ERC-20 address, or undefined for the chain's native coin. */
  token?: Address | undefined
  tokenSymbol: string
  pricePerSecond: bigint
  threads: number
  memoryBytes: bigint
  maxLeaseSeconds: number
  region?: string | undefined
  models: ModelSpec[]
  runtime?: string
}

export interface MarketProviderComponents {
  node: Pick<RpcNode, 'handle' | 'unhandle'> & { peerId: PeerId; contentRouting: ContentRouting }
  privateKey: PrivateKey
}

export interface MarketProviderInit {
  /** How long each signed offer is valid; it is re-signed at half-life. Default 10 minutes. */
  offerTtlMs?: number
  /** How often every capability key is provided again. Default 10 minutes (records live an hour). */
  reprovideIntervalMs?: number
  /** Called when a background advertise round fails; it is retried on the next round. */
  onAdvertiseError?(err: Error): void
  /** Offer exchanges at once per peer and in all. Default {@link OFFER_PROTOCOL_LIMITS}. */
  maxStreamsPerPeer?: number
  maxStreams?: number
  /** Told each time the offer is asked for, with what was answered (metrics; keep it cheap). */
  onOfferRequest?(status: OfferResponse.Status): void
}

/**
 * The selling side of the market: signs the node's offer, serves it on `/parkbench/offer/1.0.0`, and provides one
 * DHT key for the runtime and one per model so that clients can find this node.
 */
export class MarketProvider {
  private readonly components: MarketProviderComponents
  private readonly offerTtlMs: number
  private readonly reprovideIntervalMs: number
  private readonly onAdvertiseError: (err: Error) => void
  private readonly streamLimits: { maxStreamsPerPeer: number; maxStreams: number }
  private readonly onOfferRequest: ((status: OfferResponse.Status) => void) | undefined
  private terms: OfferTerms | undefined
  private signed: SignedOffer | undefined
  private offeredModels: ModelSpec[] = []
  private sequence = 0n
  private advertisedKeys = new Map<string, CID>()
  private controller = new AbortController()
  private resignTimer: NodeJS.Timeout | undefined
  private reprovideTimer: NodeJS.Timeout | undefined
  private started = false

  constructor(components: MarketProviderComponents, init: MarketProviderInit = {}) {
    this.components = components
    this.offerTtlMs = init.offerTtlMs ?? 10 * 60_000
    this.reprovideIntervalMs = init.reprovideIntervalMs ?? 10 * 60_000
    this.onAdvertiseError = init.onAdvertiseError ?? ((err) => log.error('advertise failed - %e', err))
    this.onOfferRequest = init.onOfferRequest
    this.streamLimits = {
      maxStreamsPerPeer: init.maxStreamsPerPeer ?? OFFER_PROTOCOL_LIMITS.maxStreamsPerPeer,
      maxStreams: init.maxStreams ?? OFFER_PROTOCOL_LIMITS.maxStreams,
    }
    if (this.offerTtlMs <= 0 || this.offerTtlMs > OFFER_LIMITS.maxTtlMs) {
      throw new InvalidInputError(`offerTtlMs must be in (0, ${OFFER_LIMITS.maxTtlMs}]`)
    }
  }

  async start(): Promise<void> {
    if (this.started) return
    this.controller = new AbortController()
    await serveProtocol(
      this.components.node,
      OFFER_PROTOCOL,
      { request: OfferRequest, response: OfferResponse },
      async () => {
        const offer = this.signed
        this.onOfferRequest?.(offer == null ? OfferResponse.Status.NO_OFFER : OfferResponse.Status.OK)
        if (offer == null) return { status: OfferResponse.Status.NO_OFFER }
        return { status: OfferResponse.Status.OK, offer }
      },
      // Refused for the stream limits: told so at once. Anything else (garbage, too big, too slow) is reset.
      (err) => (err instanceof StreamLimitError ? { status: OfferResponse.Status.BUSY } : undefined),
      {
        maxRequestBytes: OFFER_PROTOCOL_LIMITS.maxRequestBytes,
        timeoutMs: OFFER_PROTOCOL_LIMITS.timeoutMs,
        maxInboundStreams: OFFER_PROTOCOL_LIMITS.maxInboundStreams,
        ...this.streamLimits,

        onError: (err, conn) => log('offer exchange with %p failed - %s', conn.remotePeer, err.message),
      },
    )
    this.started = true
    this.reprovideTimer = setInterval(() => {
      this.advertise().catch((err: Error) => this.onAdvertiseError(err))
    }, this.reprovideIntervalMs)
    this.reprovideTimer.unref()
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    clearInterval(this.reprovideTimer)
    clearTimeout(this.resignTimer)
    await this.withdraw()
    await this.components.node.unhandle(OFFER_PROTOCOL)
  }

  /** The offer being served now, if any. */
  currentOffer(): SignedOffer | undefined {
    return this.signed
  }

  /**
   * Set (or change) what is for sale: signs a new offer with a higher sequence and advertises its keys. Resolves
   * once the offer is signed; advertising continues in the background (await {@link advertise} to wait for it).
   */
  async setTerms(terms: OfferTerms): Promise<void> {
    this.terms = terms
    await this.resign()
    this.advertise().catch((err: Error) => this.onAdvertiseError(err))
  }

  /** Stop selling: answer NO_OFFER and stop re-providing. DHT records elsewhere lapse within their validity. */
  async withdraw(): Promise<void> {
    this.terms = undefined
    this.signed = undefined
    clearTimeout(this.resignTimer)
    const keys = [...this.advertisedKeys.values()]
    this.advertisedKeys.clear()
    await Promise.all(keys.map((cid) => this.components.node.contentRouting.cancelReprovide(cid).catch(() => {})))
  }

  /** Provide every capability key of the current offer on the DHT now. */
  async advertise(options: AbortOptions = {}): Promise<void> {
    const terms = this.terms
    if (terms == null) return
    const signal = options.signal ?? this.controller.signal
    // kad-dht adds a listener per message it sends while providing.
    setMaxListeners(Infinity, signal)
    const keys = [
      runtimeKey(terms.runtime ?? ONNX_CPU_RUNTIME),
      // The models the signed offer carries: one left out of it is not advertised either.
      ...this.offeredModels.map((m) => modelKey(Buffer.from(m.sha256).toString('hex'))),
    ]
    const errors: Error[] = []
    await Promise.all(
      keys.map(async (key) => {
        const cid = await keyToCid(key)
        try {
          await this.components.node.contentRouting.provide(cid, { signal })
          this.advertisedKeys.set(key, cid)
          log('provided %s as %s', key, cid)
        } catch (err) {
          errors.push(err as Error)
        }
      }),
    )
    if (errors.length > 0) throw new AggregateError(errors, `Could not provide ${errors.length} of ${keys.length} keys`)
  }

  private async resign(): Promise<void> {
    clearTimeout(this.resignTimer)
    const terms = this.terms
    if (terms == null) return
    // Wall-clock milliseconds as the sequence: it keeps growing across restarts without storing anything.
    this.sequence = BigInt(Math.max(Number(this.sequence) + 1, Date.now()))
    const rest: Omit<Offer, 'models'> = {
      peerId: this.components.node.peerId.toMultihash().bytes as Uint8Array<ArrayBuffer>,
      runtime: terms.runtime ?? ONNX_CPU_RUNTIME,
      payoutAddress: addressBytes(terms.payoutAddress, 'payoutAddress'),
      chainId: terms.chainId,
      channelContract: addressBytes(terms.channelContract, 'channelContract'),
      token: terms.token == null ? new Uint8Array(0) : addressBytes(terms.token, 'token'),
      tokenSymbol: terms.tokenSymbol,
      pricePerSecond: terms.pricePerSecond,
      threads: terms.threads,
      memoryBytes: terms.memoryBytes,
      maxLeaseSeconds: terms.maxLeaseSeconds,
      region: terms.region ?? '',
      sequence: this.sequence,
      expiresAtMs: BigInt(Date.now() + this.offerTtlMs),
    }
    // A model an offer cannot carry is left out, rather than make clients refuse the whole offer.
    const { models, leftOut } = fitOfferModels(terms.models, rest)
    for (const model of leftOut) log.error('model %s left out of the offer: %s', model.name, model.reason)
    this.offeredModels = models
    this.signed = await signOffer(this.components.privateKey, { ...rest, models })
    this.resignTimer = setTimeout(() => {
      this.resign().catch((err: Error) => log.error('re-signing the offer failed - %e', err))
    }, this.offerTtlMs / 2)
    this.resignTimer.unref()
  }
}

function addressBytes(address: string, field: string): Uint8Array<ArrayBuffer> {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address))
    throw new InvalidInputError(`${field} must be a 0x-prefixed 20-byte address`)
  return Uint8Array.from(Buffer.from(address.slice(2), 'hex'))
}

/** Create the selling side of the market. Call `start()`, then `setTerms()`. */
export function createMarketProvider(
  components: MarketProviderComponents,
  init: MarketProviderInit = {},
): MarketProvider {
  return new MarketProvider(components, init)
}
