import type { Hex } from 'viem'
import type { RenterLeaseSummary } from '../lease/renter-lease.js'

/** One request as the ledger sees it: the key it is charged to and what it has cost so far. */
export interface RequestCharge {
  keyId: string
  /** Wei charged to this request so far. */
  cost: bigint
  /** The provider whose lease it ran on last. */
  providerPeer?: string
}

interface LeaseEntry {
  /** What the lease had paid when last looked at. */
  seen: bigint
  pricePerSecond: bigint
  inFlight: Set<RequestCharge>
  /** The key of the last request that ran on it: it caused the idle seconds that follow. */
  lastKeyId?: string
  /** Paid before any request was on the lease (its prepaid first tick): goes to the first request that joins. */
  pending: bigint
  ended: boolean
}

/**
 * Attributes every wei the renter pays on a lease to exactly one key: what a lease pays while requests run on it is
 * split evenly between them (the remainder to the earliest); what it pays while idle goes to the key of the last
 * request on it; its prepaid first tick goes to the request that caused it. The sum charged to keys is what the
 * leases paid, so the owner's wallet and the keys' spend agree.
 */
export class SpendLedger {
  private readonly leases = new Map<Hex, LeaseEntry>()
  /** Leases whose end was taken in: a late summary of one must not be counted again from zero. */
  private readonly finished = new Set<Hex>()

  constructor(private readonly charge: (keyId: string, amount: bigint) => void) {}

  /** A request is now running on `leaseId` (a new lease, a reused one, or the next one after a failover). */
  attach(request: RequestCharge, leaseId: Hex, providerPeer: string, pricePerSecond?: bigint): void {
    // Moving to another lease (a failover): what the old one pays from now on is its key's, like idle seconds.
    for (const old of this.leases.values()) if (old.inFlight.delete(request)) old.lastKeyId = request.keyId
    let entry = this.leases.get(leaseId)
    if (entry == null) {
      entry = { seen: 0n, pricePerSecond: pricePerSecond ?? 0n, inFlight: new Set(), pending: 0n, ended: false }
      this.leases.set(leaseId, entry)
    }
    if (pricePerSecond != null) entry.pricePerSecond = pricePerSecond
    entry.inFlight.add(request)
    request.providerPeer = providerPeer
    if (entry.pending > 0n) {
      this.give(request, entry.pending)
      entry.pending = 0n
    }
  }

  /** The request is done: later payments on its lease are its key's idle seconds. */
  detach(request: RequestCharge): void {
    for (const entry of this.leases.values()) {
      if (entry.inFlight.delete(request)) entry.lastKeyId = request.keyId
    }
  }

  /** Take in what a lease has paid so far (its summary's `amountPaid`), charging what is new. */
  observe(summary: RenterLeaseSummary, ended = false): void {
    if (this.finished.has(summary.leaseId)) return
    let entry = this.leases.get(summary.leaseId)
    if (entry == null) {
      entry = { seen: 0n, pricePerSecond: summary.pricePerSecond, inFlight: new Set(), pending: 0n, ended: false }
      this.leases.set(summary.leaseId, entry)
    }
    const delta = summary.amountPaid - entry.seen
    if (delta > 0n) {
      entry.seen = summary.amountPaid
      const running = [...entry.inFlight]
      if (running.length > 0) {
        const share = delta / BigInt(running.length)
        running.forEach((r, i) => {
          this.give(r, share + (i === 0 ? delta - share * BigInt(running.length) : 0n))
        })
      } else if (entry.lastKeyId != null) {
        this.charge(entry.lastKeyId, delta)
      } else {
        entry.pending += delta
      }
    }
    if (ended) {
      entry.ended = true
      this.finished.add(summary.leaseId)
      if (this.finished.size > 100_000) this.finished.delete(this.finished.values().next().value as Hex)
      // A lease with requests still on it stays until they detach (they fail over or finish).
      if (entry.inFlight.size === 0) this.leases.delete(summary.leaseId)
    }
  }

  /** Idle leases and the key their next tick would be charged to, with the lease's price. */
  idleLeases(): Array<{ leaseId: Hex; keyId: string; pricePerSecond: bigint }> {
    const out: Array<{ leaseId: Hex; keyId: string; pricePerSecond: bigint }> = []
    for (const [leaseId, entry] of this.leases) {
      if (entry.ended) {
        if (entry.inFlight.size === 0) this.leases.delete(leaseId)
        continue
      }
      if (entry.inFlight.size === 0 && entry.lastKeyId != null) {
        out.push({ leaseId, keyId: entry.lastKeyId, pricePerSecond: entry.pricePerSecond })
      }
    }
    return out
  }

  /** Wei paid on leases before any request joined them, not yet charged to a key (0 in steady state). */
  unattributed(): bigint {
    let total = 0n
    for (const entry of this.leases.values()) total += entry.pending
    return total
  }

  private give(request: RequestCharge, amount: bigint): void {
    if (amount <= 0n) return
    request.cost += amount
    this.charge(request.keyId, amount)
  }
}
