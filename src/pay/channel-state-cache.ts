import type { AbortOptions } from '@libp2p/interface'
import type { Address, Client, Hex } from 'viem'
import { getChannel } from './actions/get-channel.js'
import { ChannelNotOpenError } from './errors.js'
import type { ChannelState } from './types.js'

export interface ChannelStateCacheComponents {
  /** Any viem client that can read the chain. */
  client: Client
}

export interface ChannelStateCacheInit {
  contract: Address
  /** How long a read stays fresh; default 10 s. Deposits only grow and settled only by our own transactions. */
  ttlMs?: number
  /** Cap on cached channels; default 10,000 (oldest evicted). */
  maxEntries?: number
}

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
  private readonly contract: Address
  private readonly ttlMs: number
  private readonly maxEntries: number
  private readonly entries = new Map<string, Entry>()
  private readonly inflight = new Map<string, Promise<ChannelState | undefined>>()

  constructor(components: ChannelStateCacheComponents, init: ChannelStateCacheInit) {
    this.client = components.client
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

  /** Drop a channel's entry (after our own settle or a close event). */
  invalidate(channelId: Hex): void {
    this.entries.delete(channelId.toLowerCase())
  }

  private async fetch(channelId: Hex, options: AbortOptions): Promise<ChannelState | undefined> {
    let state: ChannelState | undefined
    try {
      state = await getChannel(this.client, { contract: this.contract, channelId }, options)
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
