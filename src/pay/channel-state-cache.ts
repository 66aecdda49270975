import type { AbortOptions } from '@libp2p/interface'
import type { Address, Client, Hex } from 'viem'
import { getChannel } from './actions/get-channel.js'
import { ChannelNotOpenError } from './errors.js'
import type { ChannelState } from './types.js'

export interface ChannelStateCacheComponents {
  /** Any viem client that can read the chain. */
  client: Client
  /**
   * The client background refreshes ({@link ChannelStateCache.refreshSoon}) read through; default `client`. One
   * whose transport batches JSON-RPC (`createPayPublicClient(config, { batch: true })`) sends each round of
   * refreshes as one HTTP request.
   */
  refreshClient?: Client
}

export interface ChannelStateCacheInit {
  contract: Address
  /** How long a read stays fresh; default 10 s. Deposits only grow and settled only by our own transactions. */
  ttlMs?: number
  /** Cap on cached channels; default 10,000 (oldest evicted). */
  maxEntries?: number
  /**
   * Background refreshes asked for within this many ms go to the chain together (one round, one JSON-RPC batch with
   * a batching `refreshClient`); default {@link REFRESH_ROUND_MS}.
   */
  refreshRoundMs?: number
}

/**
 * With thousands of leases each channel goes stale every TTL: one read per lease every 10 s (an HTTP request each)
 * was a tenth of a provider's CPU. A round every 100 ms sends them as a few requests a second, and keeps each
 * round's answers small enough (~20 at 2,000 leases) not to hold the event loop.
 */
export const REFRESH_ROUND_MS = 100

const NEGATIVE_TTL_MS = 1_000

interface Entry {
  /** undefined: the channel does not exist (cached too, so a flood of bogus ids costs one read each per TTL). */
  state: ChannelState | undefined
  fetchedAt: number
}

/**
 * On-chain channel state (deposit, settled, closing) with a TTL, so payment checks do not read the chain per
 * message. `peek()` is synchronous for the tick hot path; `get()` refreshes when stale.
 */
export class ChannelStateCache {
  private readonly client: Client
  private readonly refreshClient: Client
  private readonly refreshRoundMs: number
  /** Channels waiting for the next background round. */
  private readonly refreshQueue = new Set<Hex>()
  private refreshTimer: NodeJS.Timeout | undefined
  private readonly contract: Address
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly entries = new Map<string, Entry>()
  private readonly inflight = new Map<string, Promise<ChannelState | undefined>>()

  constructor(components: ChannelStateCacheComponents, init: ChannelStateCacheInit) {
    this.client = components.client
    this.refreshClient = components.refreshClient ?? components.client
    this.refreshRoundMs = init.refreshRoundMs ?? REFRESH_ROUND_MS
    this.contract = init.contract
    this.ttlMs = init.ttlMs ?? 10_000
    this.maxEntries = init.maxEntries ?? 10_000
  }

  /** The cached state, fresh or not, without touching the chain. */
  peek(channelId: Hex): ChannelState | undefined {
    return this.entries.get(channelId.toLowerCase())?.state
  }

  /** Whether the cached entry is older than the TTL (or missing). */
  isStale(channelId: Hex): boolean {
    const entry = this.entries.get(channelId.toLowerCase())
    return entry == null || Date.now() - entry.fetchedAt > this.ttlMs
  }

  /** The channel's state, read from the chain if the cache is stale or `force` is set; undefined if not open. */
  async get(channelId: Hex, options: AbortOptions & { force?: boolean } = {}): Promise<ChannelState | undefined> {
    const key = channelId.toLowerCase()
    const entry = this.entries.get(key)
    // A missing channel is re-read sooner: it may have just been opened (or our RPC node may lag).
    const ttl = entry?.state == null ? Math.min(this.ttlMs, NEGATIVE_TTL_MS) : this.ttlMs
    if (options.force !== true && entry != null && Date.now() - entry.fetchedAt <= ttl) return entry.state
    let read = this.inflight.get(key)
    if (read == null) {
      read = this.fetch(channelId, options).finally(() => this.inflight.delete(key))
      this.inflight.set(key, read)
    }
    return read
  }

  /**
   * Re-read a stale channel in the background, with the other channels asked for within the same round; the hot
   * path goes on with the cached state meanwhile. Failures are logged by `onError` and leave the entry as it was.
   */
  refreshSoon(channelId: Hex, onError: (err: Error) => void = () => {}): void {
    const key = channelId.toLowerCase() as Hex
    if (this.inflight.has(key)) return
    this.refreshQueue.add(key)
    if (this.refreshTimer != null) return
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined
      const round = [...this.refreshQueue]
      this.refreshQueue.clear()
      // Issued together, so a batching transport sends them as one request.
      for (const id of round) {
        if (this.inflight.has(id) || !this.isStale(id)) continue
        const read = this.fetch(id, {}, this.refreshClient).finally(() => this.inflight.delete(id))
        this.inflight.set(id, read)
        read.catch(onError)
      }
    }, this.refreshRoundMs)
    this.refreshTimer.unref()
  }

  /**
   * Re-read every stale channel of `channelIds` now, together (one JSON-RPC batch per few dozen with a batching
   * `refreshClient`), so that a pass over many channels (the settler's) then reads them from the cache. A
   * read that fails leaves its entry as it was: the caller's own `get` reports it.
   */
  async refreshStale(channelIds: Iterable<Hex>, options: AbortOptions = {}): Promise<void> {
    const reads: Array<Promise<unknown>> = []
    for (const channelId of channelIds) {
      const id = channelId.toLowerCase() as Hex
      if (!this.isStale(id)) continue
      let read = this.inflight.get(id)
      if (read == null) {
        read = this.fetch(id, options, this.refreshClient).finally(() => this.inflight.delete(id))
        this.inflight.set(id, read)
      }
      reads.push(read.catch(() => {}))
    }
    await Promise.all(reads)
  }

  /** Drop a channel's entry (after our own settle or a close event). */
  invalidate(channelId: Hex): void {
    this.entries.delete(channelId.toLowerCase())
  }

  private async fetch(channelId: Hex, options: AbortOptions, client = this.client): Promise<ChannelState | undefined> {
    let state: ChannelState | undefined
    try {
      state = await getChannel(client, { contract: this.contract, channelId }, options)
    } catch (err) {
      if (!(err instanceof ChannelNotOpenError)) throw err
    }
    const key = channelId.toLowerCase()
    this.entries.delete(key)
    this.entries.set(key, { state, fetchedAt: Date.now() })
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!)
    return state
  }
}
