import type { PeerId } from '@libp2p/interface'

/** How long a measured round trip stands in for a new measurement. */
export const DEFAULT_RTT_MAX_AGE_MS = 60_000

/**
 * Round trips measured recently, per peer, so that a renter looking up again within a minute ranks a provider by
 * the RTT it measured then instead of pinging it three more times. Measured in a 100-node swarm: discovery's pings
 * were the most frequent stream of the whole run (100-180 a second, three per offer fetched), more than the DHT's.
 * Only real pings are kept (not the offer-exchange fallback). Bounded: the least recently measured are forgotten
 * first.
 */
export class RttBook {
  private readonly rtts = new Map<string, { ms: number; at: number }>()

  constructor(
    private readonly maxAgeMs = DEFAULT_RTT_MAX_AGE_MS,
    private readonly maxPeers = 10_000,
  ) {}

  /** The RTT measured to `peer` within the last `maxAgeMs`, if any. */
  get(peer: PeerId, now = Date.now()): number | undefined {
    const entry = this.rtts.get(peer.toString())
    return entry !== undefined && now - entry.at <= this.maxAgeMs ? entry.ms : undefined
  }

  set(peer: PeerId, ms: number, now = Date.now()): void {
    const key = peer.toString()
    this.rtts.delete(key)
    this.rtts.set(key, { ms, at: now })
    if (this.rtts.size > this.maxPeers) {
      const oldest = this.rtts.keys().next().value
      if (oldest !== undefined) this.rtts.delete(oldest)
    }
  }
}
