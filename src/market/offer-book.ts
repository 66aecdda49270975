import type { PeerId } from '@libp2p/interface'
import { StaleOfferError } from './errors.js'
import type { Offer } from './pb/market.js'

/**
 * Remembers the highest offer sequence seen from each peer, so that a replayed older offer (with an older, lower
 * price, say) is refused as stale. Bounded: the least recently updated peers are forgotten first.
 */
export class OfferBook {
  private readonly sequences = new Map<string, bigint>()
  private readonly maxPeers: number

  constructor(maxPeers = 10_000) {
    this.maxPeers = maxPeers
  }

  /** Accept `offer` from `peer` if it is not older than the last one seen; throws {@link StaleOfferError}. */
  accept(peer: PeerId, offer: Offer): void {
    const key = peer.toString()
    const last = this.sequences.get(key)
    if (last != null && offer.sequence < last) {
      throw new StaleOfferError(`Offer sequence ${offer.sequence} is below ${last} already seen from ${key}`)
    }
    this.sequences.delete(key)
    this.sequences.set(key, offer.sequence)
    if (this.sequences.size > this.maxPeers) {
      const oldest = this.sequences.keys().next().value
      if (oldest != null) this.sequences.delete(oldest)
    }
  }
}
