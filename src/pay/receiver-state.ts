import { bytesToHex, type Hex, hexToBytes } from 'viem'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import type { PaymentProof, SignedTickCommitment, Voucher } from './types.js'

/** Store keys of the receiver (provider side). */
const BEST = 'recv/best/'
const LEASE = 'recv/lease/'
const COMMITMENT = 'recv/commitment/'
const VOUCHER = 'recv/voucher/'

// Commitments are keyed by their tip (unique per chain), not by lease id: a lease renewed with a new chain keeps its
// lease id, and the best proof must keep pointing at the commitment its preimage belongs to.
type BestRecord =
  | { kind: 'voucher'; total: bigint; voucher: Voucher }
  | { kind: 'ticks'; total: bigint; tip: Hex; leaseId: Hex; ticks: number; preimage: Hex }

interface LeaseRecord {
  channelId: Hex
  /** The tip of the lease's current commitment. */
  tip: Hex
  ticks: number
  /** The last revealed chain value (the tip before the first tick). */
  last: Hex
}

/** A lease's progress in memory: the commitment it ticks on, its ticks so far and the last revealed value. */
export interface LeaseState {
  leaseId: Hex
  channelId: Hex
  commitment: SignedTickCommitment
  ticks: number
  last: Uint8Array
  active: boolean
}

/** Ids as map keys and store key suffixes: lower case. */
export function key(hex: Hex): Hex {
  return hex.toLowerCase() as Hex
}

/**
 * The receiver's accepted payments per channel (best proofs, leases, commitments, vouchers): memory and store.
 *
 * Loaded at start; each record method updates memory and returns the store operations that make the change durable,
 * which the receiver writes in one batch before it acknowledges.
 */
export class ReceiverState {
  private readonly store: PaymentStore
  private readonly best = new Map<Hex, BestRecord>()
  private readonly leases = new Map<Hex, LeaseState>()
  private readonly activeLease = new Map<Hex, Hex>()
  private readonly commitments = new Map<Hex, SignedTickCommitment>()
  /** The highest voucher per channel, kept even when ticks beat it: it settles for a fraction of the gas. */
  private readonly vouchers = new Map<Hex, Voucher>()

  constructor(store: PaymentStore) {
    this.store = store
  }

  /** Load best proofs, vouchers, commitments and lease progress from the store. */
  async load(): Promise<void> {
    for (const [k, c] of await this.store.list<SignedTickCommitment>(COMMITMENT)) {
      this.commitments.set(key(k.slice(COMMITMENT.length) as Hex), c)
    }
    for (const [k, b] of await this.store.list<BestRecord>(BEST)) this.best.set(key(k.slice(BEST.length) as Hex), b)
    for (const [k, v] of await this.store.list<Voucher>(VOUCHER))
      this.vouchers.set(key(k.slice(VOUCHER.length) as Hex), v)
    for (const [k, l] of await this.store.list<LeaseRecord>(LEASE)) {
      const leaseId = key(k.slice(LEASE.length) as Hex)
      const commitment = this.commitments.get(key(l.tip))
      if (commitment == null) continue
      const state: LeaseState = {
        leaseId,
        channelId: key(l.channelId),
        commitment,
        ticks: l.ticks,
        last: hexToBytes(l.last),
        active: true,
      }
      // Sequential leases: the one with the highest base amount is the channel's current lease.
      const current = this.activeLease.get(state.channelId)
      const currentLease = current == null ? undefined : this.leases.get(current)
      if (currentLease == null || currentLease.commitment.commitment.baseAmount <= commitment.commitment.baseAmount) {
        if (currentLease != null) currentLease.active = false
        this.activeLease.set(state.channelId, leaseId)
      } else {
        state.active = false
      }
      this.leases.set(leaseId, state)
    }
  }

  /** How many best proofs and leases are held (for the start log). */
  size(): { bestProofs: number; leases: number } {
    return { bestProofs: this.best.size, leases: this.leases.size }
  }

  bestProof(channelId: Hex): PaymentProof | undefined {
    const b = this.best.get(key(channelId))
    if (b == null) return undefined
    if (b.kind === 'voucher') return { kind: 'voucher', total: b.total, voucher: b.voucher }
    const commitment = this.commitments.get(key(b.tip))
    if (commitment == null) return undefined
    return { kind: 'ticks', total: b.total, commitment, ticks: b.ticks, preimage: b.preimage }
  }

  bestVoucher(channelId: Hex): Voucher | undefined {
    return this.vouchers.get(key(channelId))
  }

  channelTotal(channelId: Hex): bigint {
    return this.best.get(key(channelId))?.total ?? 0n
  }

  channelIds(): Hex[] {
    return [...this.best.keys()]
  }

  lease(leaseId: Hex): LeaseState | undefined {
    return this.leases.get(key(leaseId))
  }

  hasCommitment(tip: Hex): boolean {
    return this.commitments.has(key(tip))
  }

  /**
   * Record a checked commitment as its lease's current one. Sequential leases: the channel's previous lease (or the
   * renewed lease's previous chain) is retired; its records go, the best proof keeps the commitment it needs.
   */
  recordCommitment(signed: SignedTickCommitment): StoreOperation[] {
    const c = signed.commitment
    const channelId = key(c.channelId)
    const leaseId = key(c.leaseId)
    const tip = key(c.tip)
    const ops: StoreOperation[] = []
    const previous = this.activeLease.get(channelId)
    const old = previous == null ? undefined : this.leases.get(previous)
    if (previous != null) {
      if (old != null) old.active = false
      this.leases.delete(previous)
      if (previous !== leaseId) ops.push({ type: 'del', key: LEASE + previous })
    }
    if (old != null) {
      const oldTip = key(old.commitment.commitment.tip)
      const best = this.best.get(channelId)
      if (!(best?.kind === 'ticks' && key(best.tip) === oldTip)) this.retireCommitment(oldTip, ops)
    }
    ops.push(
      { type: 'put', key: COMMITMENT + tip, value: signed },
      { type: 'put', key: LEASE + leaseId, value: { channelId, tip, ticks: 0, last: c.tip } satisfies LeaseRecord },
    )
    this.commitments.set(tip, signed)
    this.leases.set(leaseId, {
      leaseId,
      channelId,
      commitment: signed,
      ticks: 0,
      last: hexToBytes(c.tip),
      active: true,
    })
    this.activeLease.set(channelId, leaseId)
    return ops
  }

  /** Record a checked tick (the k-th of the lease, paying `total`); it becomes the best proof if it is higher. */
  recordTick(lease: LeaseState, k: number, preimage: Uint8Array, total: bigint): StoreOperation[] {
    const c = lease.commitment.commitment
    lease.ticks = k
    lease.last = preimage
    const preimageHex = bytesToHex(preimage)
    const ops: StoreOperation[] = [
      {
        type: 'put',
        key: LEASE + lease.leaseId,
        value: { channelId: lease.channelId, tip: key(c.tip), ticks: k, last: preimageHex } satisfies LeaseRecord,
      },
    ]
    const best = this.best.get(lease.channelId)
    if (best == null || total > best.total) {
      // A re-anchored or renewed lease leaves its previous commitment behind once the new one carries the best proof.
      if (best?.kind === 'ticks' && key(best.tip) !== key(c.tip)) {
        this.retireUnlessCurrent(lease.channelId, best.tip, ops)
      }
      const record: BestRecord = {
        kind: 'ticks',
        total,
        tip: key(c.tip),
        leaseId: lease.leaseId,
        ticks: k,
        preimage: preimageHex,
      }
      this.best.set(lease.channelId, record)
      ops.push({ type: 'put', key: BEST + lease.channelId, value: record })
    }
    return ops
  }

  /**
   * Record a checked voucher as the channel's voucher; it becomes the best proof if it is at least as high as the
   * ticks (it is cheaper to settle).
   */
  recordVoucher(voucher: Voucher): StoreOperation[] {
    const channelId = key(voucher.channelId)
    const stored: Voucher = { ...voucher, channelId }
    this.vouchers.set(channelId, stored)
    const ops: StoreOperation[] = [{ type: 'put', key: VOUCHER + channelId, value: stored }]
    const best = this.best.get(channelId)
    if (best == null || voucher.total >= best.total) {
      const record: BestRecord = { kind: 'voucher', total: voucher.total, voucher: stored }
      this.best.set(channelId, record)
      ops.push({ type: 'put', key: BEST + channelId, value: record })
      // The replaced tick proof's commitment is only kept while it is a lease's current one.
      if (best?.kind === 'ticks') this.retireUnlessCurrent(channelId, best.tip, ops)
    }
    return ops
  }

  /** Retire a replaced proof's commitment unless it is the channel's current lease's (which still takes ticks). */
  private retireUnlessCurrent(channelId: Hex, tip: Hex, ops: StoreOperation[]): void {
    const active = this.activeLease.get(channelId)
    const lease = active == null ? undefined : this.leases.get(active)
    if (lease != null && key(lease.commitment.commitment.tip) === key(tip)) return
    this.retireCommitment(tip, ops)
  }

  /** Forget a commitment nothing needs any more, in memory and (with the caller's batch) in the store. */
  private retireCommitment(tip: Hex, ops: StoreOperation[]): void {
    this.commitments.delete(key(tip))
    ops.push({ type: 'del', key: COMMITMENT + key(tip) })
  }
}
