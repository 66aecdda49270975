import { setMaxListeners } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { AbortOptions, ContentRouting, PeerId, PeerStore } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { pushable } from 'it-pushable'
import PQueue from 'p-queue'
import { InvalidInputError } from '../errors.js'
import { PING_SAMPLES, pingRtt } from '../net/ping-rtt.js'
import { callProtocol, type RpcNode } from '../net/rpc.js'
import { isSha256Hex, keyToCid, modelKey, ONNX_CPU_RUNTIME, runtimeKey } from './capability-keys.js'
import { OFFER_PROTOCOL, OFFER_PROTOCOL_LIMITS } from './constants.js'
import { NoOfferError, OfferBusyError } from './errors.js'
import { type VerifiedOffer, verifySignedOffer } from './offer.js'
import type { OfferBook } from './offer-book.js'
import { type Offer, OfferRequest, OfferResponse, type SignedOffer } from './pb/market.js'
import { compareRanked, DEFAULT_RTT_WEIGHT_MS, scoreOffer } from './rank.js'
import type { RttBook } from './rtt-book.js'

const log = logger('parkbench:market:discover')

export interface DiscoverComponents {
  node: Pick<RpcNode, 'dialProtocol'> & {
    peerId: PeerId
    contentRouting: ContentRouting
    peerStore: Pick<PeerStore, 'merge'>
  }
  /** Remembers offer sequences across lookups so replayed old offers are refused. */
  offerBook?: OfferBook
  /** Round trips measured in earlier lookups (a minute by default): a provider in it is not pinged again. */
  rttBook?: RttBook
}

export interface DiscoverQuery {
  /** Only providers holding this model (lowercase hex sha256 of the .onnx bytes). */
  model?: string
  /** Providers of this runtime when no model is given. Default `onnx/cpu`. */
  runtime?: string
  /** Drop providers whose measured round-trip time is above this ("nearby"). */
  maxRttMs?: number
  /** Drop offers above this price per second. */
  maxPricePerSecond?: bigint
  /** Stop looking after this long. Default 5000 ms. */
  timeoutMs?: number
  /** Offers fetched at once. Default 16. */
  concurrency?: number
  /**
   * A fetch still unanswered after this long stops holding one of the `concurrency` slots (it goes on until the
   * deadline, and counts if it answers), so that records of silent peers, spam on an open DHT, cannot hold every slot
   * for the whole lookup. Default 1,000 ms; at most `maxPending` such fetches at once (default 64), past which a
   * fetch keeps its slot.
   */
  slotMs?: number
  maxPending?: number
  /** Stop after this many offers. */
  limit?: number
  /** The RTT weight of the ranking score; see rank.ts. */
  rttWeightMs?: number
  /** Told about every provider that was found but whose offer was refused or unreachable. */
  onRejected?(peer: PeerId, err: Error): void
}

export interface DiscoveredOffer {
  peerId: PeerId
  multiaddrs: Multiaddr[]
  offer: Offer
  signed: SignedOffer
  /** Round-trip time measured with libp2p ping after the offer arrived, in ms. */
  rttMs: number
  /** Ranking score, lower is better: see rank.ts. */
  score: number
  pricePerSecond: bigint
}

/**
 * Ask `peer` for its current offer and verify it: the peer that served it must be the one that signed it, the
 * signature must hold, it must not have expired nor be older than one already seen (with an {@link OfferBook}).
 * A multiaddr must end in `/p2p/<peer id>`, so that the offer can be checked against the peer that was dialled.
 */
export async function fetchOffer(
  components: Pick<DiscoverComponents, 'node' | 'offerBook'>,
  peer: PeerId | Multiaddr,
  options: AbortOptions = {},
): Promise<VerifiedOffer> {
  const expectedPeer = isPeerId(peer) ? peer : peerIdOfAddress(peer)
  const response = await callProtocol(
    components.node,
    peer,
    OFFER_PROTOCOL,
    { codec: OfferRequest, message: {} },
    OfferResponse,
    { maxResponseBytes: OFFER_PROTOCOL_LIMITS.maxResponseBytes, ...options },
  )
  if (response.status === OfferResponse.Status.BUSY) throw new OfferBusyError()
  if (response.status !== OfferResponse.Status.OK || response.offer == null) {
    throw new NoOfferError(`Peer answered ${String(response.status)}`)
  }
  const verified = await verifySignedOffer(response.offer, { expectedPeer })
  components.offerBook?.accept(verified.peerId, verified.offer)
  return verified
}

function isPeerId(value: unknown): value is PeerId {
  return typeof value === 'object' && value != null && 'toMultihash' in value
}

/** The peer id in a multiaddr's last `/p2p/` component; throws {@link InvalidInputError} when there is none. */
export function peerIdOfAddress(addr: Multiaddr): PeerId {
  const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
  if (id == null) throw new InvalidInputError(`${addr.toString()} does not end in /p2p/<peer id>`)
  return peerIdFromString(id)
}

/**
 * Find providers of a model or runtime on the DHT, fetch and verify their offers concurrently, measure the RTT to
 * each, and yield them as they arrive (unranked: use {@link findOffers} for a ranked list). Ends when the DHT
 * query is exhausted and every fetch has settled, at the deadline, or when `options.signal` aborts.
 *
 * @example
 * ```ts
 * for await (const found of discoverOffers({ node }, { model: sha256Hex, maxRttMs: 20 })) {
 *   console.log(found.peerId.toString(), found.pricePerSecond, found.rttMs)
 * }
 * ```
 */
export async function* discoverOffers(
  components: DiscoverComponents,
  query: DiscoverQuery = {},
  options: AbortOptions = {},
): AsyncGenerator<DiscoveredOffer, void, undefined> {
  if (query.model != null && !isSha256Hex(query.model)) {
    throw new InvalidInputError('model must be a lowercase 64-digit hex sha256')
  }
  const key = query.model != null ? modelKey(query.model) : runtimeKey(query.runtime ?? ONNX_CPU_RUNTIME)
  const cid = await keyToCid(key)
  const deadline = AbortSignal.timeout(query.timeoutMs ?? 5_000)
  // Aborted when the consumer stops (a `limit` reached, a `break`, a throw): the DHT query, the offer fetches and the
  // pings still under way stop with it rather than running on to the deadline for offers nobody will read.
  const done = new AbortController()
  const signal = AbortSignal.any([...(options.signal != null ? [options.signal] : []), deadline, done.signal])
  // Every dial, read and ping of this lookup listens on the one signal.
  setMaxListeners(Infinity, signal)
  const results = pushable<DiscoveredOffer>({ objectMode: true })
  const queue = new PQueue({ concurrency: query.concurrency ?? 16 })
  const slotMs = query.slotMs ?? 1_000
  const maxPending = query.maxPending ?? 64
  // Fetches that gave their slot up: the lookup ends only once they have settled too.
  const pending = new Set<Promise<void>>()
  const seen = new Set<string>([components.node.peerId.toString()])
  const rttWeightMs = query.rttWeightMs ?? DEFAULT_RTT_WEIGHT_MS
  const { node } = components

  const visit = async (peerId: PeerId, multiaddrs: Multiaddr[]): Promise<void> => {
    try {
      if (multiaddrs.length > 0) await node.peerStore.merge(peerId, { multiaddrs }, { signal })
      const fetchStart = performance.now()
      const verified = await fetchOffer(components, peerId, { signal })
      const fetchMs = performance.now() - fetchStart
      const { offer } = verified
      if (query.model != null && !offer.models.some((m) => Buffer.from(m.sha256).toString('hex') === query.model)) {
        throw new NoOfferError('The offer does not list the model it was advertised for')
      }
      if (query.maxPricePerSecond != null && offer.pricePerSecond > query.maxPricePerSecond) return
      // The offer exchange itself took at least one round trip (plus dial and signature checks): an upper bound
      // to fall back on if the ping fails, so that an RTT probe never disqualifies a valid offer.
      let rttMs = components.rttBook?.get(peerId)
      if (rttMs === undefined) {
        // The least of three echoes on one ping stream (a busy machine adds delay, never removes it).
        const measured = await pingRtt(node, peerId, PING_SAMPLES, { signal }).catch(() => undefined)
        if (measured !== undefined) components.rttBook?.set(peerId, measured)
        rttMs = measured ?? fetchMs
      }
      if (query.maxRttMs != null && rttMs > query.maxRttMs) return
      results.push({
        peerId,
        multiaddrs,
        offer,
        signed: verified.signed,
        rttMs,
        pricePerSecond: offer.pricePerSecond,
        score: scoreOffer(offer.pricePerSecond, rttMs, rttWeightMs),
      })
    } catch (err) {
      if (signal.aborted) return
      log('provider %p rejected - %s', peerId, (err as Error).message)
      query.onRejected?.(peerId, err as Error)
    }
  }

  const produce = async (): Promise<void> => {
    try {
      for await (const provider of node.contentRouting.findProviders(cid, { signal })) {
        const id = provider.id.toString()
        if (seen.has(id)) continue
        seen.add(id)
        void queue.add(async () => {
          const fetch = visit(provider.id, provider.multiaddrs)
          // Infinity (or any non-finite value) keeps the slot to the end, as discovery did before slotMs.
          if (pending.size >= maxPending || !Number.isFinite(slotMs)) return fetch
          let timer: NodeJS.Timeout | undefined
          const slow = new Promise<'slow'>((resolve) => {
            timer = setTimeout(() => resolve('slow'), slotMs)
          })
          const first = await Promise.race([fetch.then(() => 'done' as const), slow])
          clearTimeout(timer)
          if (first === 'slow') {
            const settled = fetch.finally(() => pending.delete(settled))
            pending.add(settled)
          }
        })
      }
    } catch (err) {
      if (!signal.aborted) log('findProviders for %s ended - %s', key, (err as Error).message)
    }
    await queue.onIdle()
    while (pending.size > 0) await Promise.all([...pending])
    results.end()
  }
  const onAbort = (): void => {
    queue.clear()
    results.end()
  }
  signal.addEventListener('abort', onAbort, { once: true })
  void produce()

  let count = 0
  try {
    for await (const found of results) {
      yield found
      count++
      if (query.limit != null && count >= query.limit) break
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    queue.clear()
    done.abort()
  }
}

/** Discover offers until the deadline and return them ranked best first (see rank.ts). */
export async function findOffers(
  components: DiscoverComponents,
  query: DiscoverQuery = {},
  options: AbortOptions = {},
): Promise<DiscoveredOffer[]> {
  const found: DiscoveredOffer[] = []
  for await (const offer of discoverOffers(components, query, options)) found.push(offer)
  return found.sort((a, b) => compareRanked(a, b))
}
