/**
 * Slots for work in progress, per peer and in all: an inbound stream takes one before it is read, and a peer at its
 * share (over all its connections: libp2p's `maxInboundStreams` counts per connection) or a node at its total is
 * refused at once.
 */
export class PeerSlots {
  private readonly perPeer = new Map<string, number>()
  private total = 0

  constructor(
    readonly maxPerPeer: number,
    readonly max: number,
  ) {}

  /** Slots taken now, in all. */
  get size(): number {
    return this.total
  }

  /** Take a slot for `peer`; false when the peer, or everyone, is at the cap. */
  take(peer: string): boolean {
    const held = this.perPeer.get(peer) ?? 0
    if (held >= this.maxPerPeer || this.total >= this.max) return false
    this.perPeer.set(peer, held + 1)
    this.total++
    return true
  }

  release(peer: string): void {
    const held = this.perPeer.get(peer)
    if (held === undefined) return
    this.total--
    if (held <= 1) this.perPeer.delete(peer)
    else this.perPeer.set(peer, held - 1)
  }
}
