import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { CODE_P2P, type Multiaddr } from '@multiformats/multiaddr'
import type { Address } from 'viem'
import {
  type DiscoveredOffer,
  type DiscoverQuery,
  discoverOffers,
  fetchOffer,
  findOffers,
  peerIdOfAddress,
} from '../market/discover.js'
import { OfferBook } from '../market/offer-book.js'
import { compareRanked } from '../market/rank.js'
import { RttBook } from '../market/rtt-book.js'
import type { ParkbenchNode } from '../net/create-node.js'
import { waitForDhtPeers } from '../net/dht-ready.js'
import { NoProviderError } from './errors.js'

const log = logger('parkbench:client:finder')

/** A provider that failed is not tried again for this long. */
export const FAILED_PROVIDER_BACKOFF_MS = 30_000

export interface ProviderFinderComponents {
  node: ParkbenchNode
}

export interface ProviderFinderInit {
  /** Only offers paid on this chain and contract (and in `token`, or the native coin) are usable. */
  chainId: number
  contract: Address
  token?: Address | undefined
  /** Whether the node joined through bootstrap peers (then discovery waits for the DHT to have one). */
  bootstrapped: boolean
  /** Peers come by mDNS: the first lookup waits a few seconds for a LAN peer to answer. */
  mdns?: boolean | undefined
  /** Only providers at most this far away, in ms. */
  maxRttMs?: number | undefined
  /** How long discovered offers are reused; default 30 s, 0 asks every time. Never past an offer's expiry. */
  offerCacheMs?: number | undefined
  /** How long to keep asking when discovery finds no provider (providers that just started). Default 3 s. */
  discoveryTimeoutMs?: number | undefined
  /**
   * Once the first usable offer is in, how much longer a lookup waits for better ones before it ranks what it has
   * and stops the DHT query: this long, or as long again as the first took if that was longer. Default
   * {@link DISCOVERY_SETTLE_MS}; `Infinity` waits for the whole query (up to its 3 s deadline), as before.
   */
  discoverySettleMs?: number | undefined
}

/**
 * A lookup ranks the offers that arrived within this long of the first usable one. A DHT query on a real network
 * runs on for seconds after the first providers answer (kad-dht walks every path until it converges), while the
 * offers of nearby providers, the ones that rank best, arrive first: the renter does not wait for the tail.
 */
export const DISCOVERY_SETTLE_MS = 500

/**
 * Finds providers for the renter: discovery on the DHT (holders of the model first, else any provider of the
 * runtime when the model can be pushed), ranked by price and RTT, with an offer cache, replay protection (an
 * {@link OfferBook}) and a back-off for providers that failed recently.
 */
export class ProviderFinder {
  private readonly node: ParkbenchNode
  private readonly init: ProviderFinderInit
  private readonly offerBook = new OfferBook()
  private readonly rttBook = new RttBook()
  private readonly failedUntil = new Map<string, number>()
  private readonly cache = new Map<string, { at: number; offers: DiscoveredOffer[] }>()

  constructor(components: ProviderFinderComponents, init: ProviderFinderInit) {
    this.node = components.node
    this.init = init
  }

  /** Skip this provider for a while. */
  markFailed(providerPeer: string): void {
    this.failedUntil.set(providerPeer, Date.now() + FAILED_PROVIDER_BACKOFF_MS)
  }

  /** Did this provider fail recently? */
  failedRecently(providerPeer: string): boolean {
    return (this.failedUntil.get(providerPeer) ?? 0) > Date.now()
  }

  /** Is an offer paid on our chain, contract and token? */
  usable(offer: DiscoveredOffer['offer']): boolean {
    const token = this.init.token
    return (
      Number(offer.chainId) === this.init.chainId &&
      Buffer.from(offer.channelContract).equals(Buffer.from(this.init.contract.slice(2), 'hex')) &&
      (offer.token.length === 0
        ? token == null
        : token != null && Buffer.from(offer.token).equals(Buffer.from(token.slice(2), 'hex')))
    )
  }

  /**
   * Usable offers for `model` (any price: the caller applies its ceiling, so that it can say what the cheapest
   * asks), best first. `canPush`: when no provider holds the model, any provider of the runtime will do.
   */
  async find(
    model: { sha256: string; canPush: boolean } | undefined,
    options: AbortOptions & { useCache?: boolean } = {},
  ): Promise<{ offers: DiscoveredOffer[]; cached: boolean }> {
    const cacheMs = this.init.offerCacheMs ?? 30_000
    const key = model?.sha256 ?? ''
    const cached = this.cache.get(key)
    const now = Date.now()
    if (options.useCache !== false && cached != null && now - cached.at < cacheMs) {
      const fresh = cached.offers.filter(
        (o) => Number(o.offer.expiresAtMs) > now + 5_000 && !this.failedRecently(o.peerId.toString()),
      )
      if (fresh.length > 0) return { offers: fresh, cached: true }
    }
    if (this.init.bootstrapped) {
      await waitForDhtPeers(this.node, 1, { signal: options.signal ?? AbortSignal.timeout(10_000) })
    } else if (this.init.mdns === true) {
      const wait = AbortSignal.timeout(5_000)
      await waitForDhtPeers(this.node, 1, {
        signal: options.signal != null ? AbortSignal.any([options.signal, wait]) : wait,
      }).catch(() => {})
    }
    // A lookup on a small network takes milliseconds; providers that just started may not have stored their
    // records yet, so an empty answer is asked again for a few seconds before giving up.
    const deadline = Date.now() + (this.init.discoveryTimeoutMs ?? 3_000)
    let offers: DiscoveredOffer[] = []
    for (let wait = 100; offers.length === 0; wait = Math.min(wait * 2, 1_000)) {
      offers = await this.lookup(model, options)
      if (offers.length > 0 || Date.now() + wait > deadline) break
      await new Promise((r) => setTimeout(r, wait))
      if (options.signal?.aborted === true) break
    }
    if (cacheMs > 0 && offers.length > 0) this.cache.set(key, { at: now, offers })
    log('found %d offers for %s', offers.length, key === '' ? 'any model' : key)
    return { offers, cached: false }
  }

  /**
   * Every provider found (holders of `model`, or of the runtime), best first, each with its verified offer and
   * whether it is `payable` on this finder's chain, contract and token.
   */
  async list(
    query: Pick<DiscoverQuery, 'model' | 'maxRttMs' | 'maxPricePerSecond' | 'timeoutMs'>,
    options: AbortOptions = {},
  ): Promise<Array<DiscoveredOffer & { payable: boolean }>> {
    const timeoutMs = query.timeoutMs ?? 5_000
    const wait = AbortSignal.timeout(timeoutMs)
    await waitForDhtPeers(this.node, 1, {
      signal: options.signal != null ? AbortSignal.any([options.signal, wait]) : wait,
    })
    const found = await findOffers(
      { node: this.node, offerBook: this.offerBook, rttBook: this.rttBook },
      { ...query, timeoutMs },
      options,
    )
    return found.map((o) => ({ ...o, payable: this.usable(o.offer) }))
  }

  /** The offer of one named provider, fetched from it directly. */
  async pinned(addr: Multiaddr, options: AbortOptions = {}): Promise<DiscoveredOffer> {
    const peerId = peerIdOfAddress(addr)
    await this.node.peerStore.merge(peerId, { multiaddrs: [addr.decapsulateCode(CODE_P2P)] })
    const started = performance.now()
    const verified = await fetchOffer({ node: this.node, offerBook: this.offerBook }, addr, {
      signal: options.signal ?? AbortSignal.timeout(10_000),
    })
    if (!this.usable(verified.offer)) {
      throw new NoProviderError(`Provider ${peerId.toString()} is not paid on this chain, contract and token`)
    }
    return {
      peerId,
      multiaddrs: [addr],
      offer: verified.offer,
      signed: verified.signed,
      rttMs: performance.now() - started,
      score: 0,
      pricePerSecond: verified.offer.pricePerSecond,
    }
  }

  private async lookup(
    model: { sha256: string; canPush: boolean } | undefined,
    options: AbortOptions,
  ): Promise<DiscoveredOffer[]> {
    const query = {
      timeoutMs: 3_000,
      ...(this.init.maxRttMs != null ? { maxRttMs: this.init.maxRttMs } : {}),
    }
    const settleMs = this.init.discoverySettleMs ?? DISCOVERY_SETTLE_MS
    const find = async (q: Parameters<typeof findOffers>[1]): Promise<DiscoveredOffer[]> => {
      const components = { node: this.node, offerBook: this.offerBook, rttBook: this.rttBook }
      if (!Number.isFinite(settleMs))
        return (await findOffers(components, q, options)).filter((o) => this.usable(o.offer))
      // Offers as they come; from the first usable one, `settleMs` more, then rank them (leaving the loop stops the
      // DHT query, the fetches and the pings still going).
      const settled = new AbortController()
      const signal = options.signal != null ? AbortSignal.any([options.signal, settled.signal]) : settled.signal
      const found: DiscoveredOffer[] = []
      const started = performance.now()
      let timer: NodeJS.Timeout | undefined
      try {
        for await (const offer of discoverOffers(components, q, { signal })) {
          if (!this.usable(offer.offer)) continue
          found.push(offer)
          // As long again as the first took, at least `settleMs`: a slow network or machine gets a wider window.
          timer ??= setTimeout(() => settled.abort(), Math.max(settleMs, performance.now() - started))
        }
      } finally {
        clearTimeout(timer)
      }
      return found.sort((a, b) => compareRanked(a, b))
    }
    const holders = model == null ? [] : await find({ ...query, model: model.sha256 })
    // Nobody holds it (or any model will do): any provider of the runtime, and we push the model.
    if (holders.length > 0 || (model != null && !model.canPush)) return holders
    return find(query)
  }
}
