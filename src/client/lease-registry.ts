import type { Hex } from 'viem'
import { EndReason } from '../lease/pb/lease.js'
import type { RenterLease, RenterLeaseSummary } from '../lease/renter-lease.js'
import type { DiscoveredOffer } from '../market/discover.js'

/** A lease the client holds. */
export interface HeldLease {
  lease: RenterLease
  offer: DiscoveredOffer
  channelId: Hex
  /** Models the lease was taken for; empty for any model the provider holds. */
  named: Set<string>
  /** Models the provider is known to hold: the named ones and those pushed to it. */
  onProvider: Set<string>
  jobs: number
  /** Taken with `client.lease()`: never ended for idleness, never used by `client.infer()`. */
  explicit: boolean
  /**
   * It runs over a relayed connection (the provider is behind a NAT). When such a lease drops, the relay (its limits,
   * or the relay itself) may be what failed rather than the provider: the provider is not skipped for it, and the
   * next lease redials through a relay (a failed redial then does skip it).
   */
  relayed: boolean
  idleTimer?: NodeJS.Timeout
}

interface Entry {
  held: HeldLease
  /** Resolves once the lease's end has been recorded (exactly once, whoever ended it). */
  recorded: Promise<RenterLeaseSummary>
}

/**
 * Every lease the client holds: at most one automatic lease per provider (what `client.infer()` reuses) and any
 * number of explicit ones. A lease's end is recorded in exactly one place, when the lease itself reports it ended,
 * whether the client ended it (idle, failover, close) or the provider did.
 */
export class LeaseRegistry {
  private readonly automatic = new Map<string, Entry>()
  private readonly explicit = new Map<HeldLease, Entry>()
  private readonly onEnded: (held: HeldLease, summary: RenterLeaseSummary) => void

  constructor(onEnded: (held: HeldLease, summary: RenterLeaseSummary) => void) {
    this.onEnded = onEnded
  }

  add(held: HeldLease): void {
    const peer = held.offer.peerId.toString()
    const entry: Entry = {
      held,
      recorded: held.lease.ended.then(() => {
        clearTimeout(held.idleTimer)
        if (this.automatic.get(peer)?.held === held) this.automatic.delete(peer)
        this.explicit.delete(held)
        const summary = held.lease.summary()
        this.onEnded(held, summary)
        return summary
      }),
    }
    if (held.explicit) this.explicit.set(held, entry)
    else this.automatic.set(peer, entry)
  }

  /** The automatic lease held on a provider, if it is still active. */
  automaticOn(providerPeer: string): HeldLease | undefined {
    const held = this.automatic.get(providerPeer)?.held
    return held?.lease.active === true ? held : undefined
  }

  /** Active automatic leases. */
  automaticLeases(): HeldLease[] {
    return [...this.automatic.values()].map((e) => e.held).filter((h) => h.lease.active)
  }

  /** Every lease held now. */
  all(): HeldLease[] {
    return [...this.automatic.values(), ...this.explicit.values()].map((e) => e.held)
  }

  /** Turn an automatic lease into an explicit one (`client.lease()` takes over the lease `infer()` held). */
  adopt(held: HeldLease): void {
    const peer = held.offer.peerId.toString()
    const entry = this.automatic.get(peer)
    if (entry?.held !== held) return
    clearTimeout(held.idleTimer)
    this.automatic.delete(peer)
    held.explicit = true
    this.explicit.set(held, entry)
  }

  /** End a lease (paying its final voucher) and wait until its end is recorded. */
  async end(held: HeldLease, reason: EndReason = EndReason.RENTER_ENDED): Promise<RenterLeaseSummary> {
    clearTimeout(held.idleTimer)
    const entry = held.explicit ? this.explicit.get(held) : this.automatic.get(held.offer.peerId.toString())
    await held.lease.end(reason)
    return entry?.held === held ? entry.recorded : held.lease.summary()
  }
}
