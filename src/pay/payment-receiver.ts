import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, bytesToHex, type Hex, hexToBytes, isAddressEqual } from 'viem'
import type { ChannelStateCache } from './channel-state-cache.js'
import { MAX_AMOUNT, MAX_PROOF_TICKS, MAX_TICKS } from './constants.js'
import { isCanonicalSignature, recoverTickCommitmentSigner, recoverVoucherSigner } from './eip712.js'
import {
  AmountExceedsDepositError,
  AmountNotIncreasingError,
  ChannelClosingError,
  ChannelMismatchError,
  ChannelNotOpenError,
  CommitmentNotSignedError,
  InvalidPreimageError,
  MalformedPaymentError,
  TickOutOfRangeError,
  UnknownLeaseError,
  WrongChainError,
  WrongContractError,
  WrongSignerError,
} from './errors.js'
import { verifyTickPreimage } from './hash-chain.js'
import type { PaymentStore, StoreOperation } from './payment-store.js'
import type { ChannelState, HashFunctionName, PaymentProof, SignedTickCommitment, Voucher } from './types.js'

const log = logger('parkbench:pay:receiver')

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

interface LeaseState {
  leaseId: Hex
  channelId: Hex
  commitment: SignedTickCommitment
  ticks: number
  last: Uint8Array
  active: boolean
}

export interface PaymentReceiverComponents {
  store: PaymentStore
  channels: ChannelStateCache
}

export interface PaymentReceiverInit {
  chainId: number
  contract: Address
  /** This node's EVM address: only channels to it are accepted. */
  provider: Address
  /** This node's id ({@link providerNodeId} of its peer id): only channels bound to it are accepted. */
  providerNode: Hex
  /**
   * Hash functions accepted in commitments; default keccak256 only. sha256 costs 2.5x the gas per step on-chain, so
   * a renter choosing it would make the provider's proofs dearer to settle.
   */
  hashFunctions?: HashFunctionName[]
  /**
   * Upper bound on a commitment's maxTicks, so that a tick proof always fits well inside a block; default
   * {@link MAX_PROOF_TICKS}.
   */
  maxTicks?: number
}

/** What the lease expects a commitment to be for. */
export interface CommitmentExpectation {
  channelId: Hex
  leaseId?: Hex
  amountPerTick?: bigint
}

export interface AcceptedPayment {
  channelId: Hex
  /** The channel's best accepted total after this message. */
  total: bigint
}

export interface AcceptedTick extends AcceptedPayment {
  leaseId: Hex
  /** k, the number of ticks accepted on this lease so far. */
  ticks: number
}

function key(hex: Hex): Hex {
  return hex.toLowerCase() as Hex
}

/**
 * The provider's side of payments. Every message is checked rule by rule, in the order PAYMENT_CHECKS (errors.ts)
 * lists, each rule with its own typed error, and the best proof per channel is durable in the store before the call
 * resolves: a resolved call is an acknowledged payment that survives `kill -9`. It acknowledges only what the
 * contract would settle: the same signature rules (low s), the same amounts, a channel bound to this node.
 *
 * Leases on one channel are sequential: a new commitment must start at or above the channel's best total and
 * retires the channel's previous lease (its ticks stay in the best proof if they were the best).
 */
export class PaymentReceiver {
  private readonly store: PaymentStore
  private readonly channels: ChannelStateCache
  private readonly chainId: number
  private readonly contract: Address
  private readonly provider: Address
  private readonly providerNode: Hex
  private readonly hashFunctions: HashFunctionName[]
  private readonly maxTicks: number
  private readonly best = new Map<Hex, BestRecord>()
  private readonly leases = new Map<Hex, LeaseState>()
  private readonly activeLease = new Map<Hex, Hex>()
  private readonly commitments = new Map<Hex, SignedTickCommitment>()
  /** The highest voucher per channel, kept even when ticks beat it: it settles for a fraction of the gas. */
  private readonly vouchers = new Map<Hex, Voucher>()
  private started = false

  constructor(components: PaymentReceiverComponents, init: PaymentReceiverInit) {
    this.store = components.store
    this.channels = components.channels
    this.chainId = init.chainId
    this.contract = init.contract
    this.provider = init.provider
    this.providerNode = key(init.providerNode)
    this.hashFunctions = init.hashFunctions ?? ['keccak256']
    this.maxTicks = Math.min(init.maxTicks ?? MAX_PROOF_TICKS, MAX_TICKS)
  }

  /** Load best proofs and lease progress from the store. */
  async start(): Promise<void> {
    if (this.started) return
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
    this.started = true
    log('loaded %d best proofs, %d leases', this.best.size, this.leases.size)
  }

  async stop(): Promise<void> {
    await this.store.drain()
    this.started = false
  }

  /** The channel's best proof (highest total accepted), if any. */
  bestProof(channelId: Hex): PaymentProof | undefined {
    const b = this.best.get(key(channelId))
    if (b == null) return undefined
    if (b.kind === 'voucher') return { kind: 'voucher', total: b.total, voucher: b.voucher }
    const commitment = this.commitments.get(key(b.tip))
    if (commitment == null) return undefined
    return { kind: 'ticks', total: b.total, commitment, ticks: b.ticks, preimage: b.preimage }
  }

  /** The channel's highest accepted voucher, which may be below the best proof when ticks came after it. */
  bestVoucher(channelId: Hex): Voucher | undefined {
    return this.vouchers.get(key(channelId))
  }

  /** The channel's best accepted total (0n if nothing yet). */
  channelTotal(channelId: Hex): bigint {
    return this.best.get(key(channelId))?.total ?? 0n
  }

  /**
   * What a renter can still pay on a channel to this provider: deposit minus the best accepted total (or the
   * settled total, if higher). Throws the checks' errors if the channel is not open, not ours, or closing; the lease
   * protocol uses it to refuse a lease the deposit cannot cover.
   */
  async remaining(
    channelId: Hex,
    options: AbortOptions = {},
  ): Promise<{ deposit: bigint; total: bigint; remaining: bigint; renter: Address }> {
    const state = await this.openChannel(key(channelId), options)
    const accepted = this.channelTotal(channelId)
    let total = state.settled
    if (accepted > total) total = accepted
    return { deposit: state.deposit, total, remaining: state.deposit - total, renter: state.renter }
  }

  /** Channels with an accepted proof (what the settler looks at). */
  channelIds(): Hex[] {
    return [...this.best.keys()]
  }

  /** A lease's progress, or undefined if unknown. */
  leaseProgress(leaseId: Hex): { channelId: Hex; ticks: number; total: bigint; active: boolean } | undefined {
    const lease = this.leases.get(key(leaseId))
    if (lease == null) return undefined
    const c = lease.commitment.commitment
    return {
      channelId: lease.channelId,
      ticks: lease.ticks,
      total: c.baseAmount + BigInt(lease.ticks) * c.amountPerTick,
      active: lease.active,
    }
  }

  /** Stop accepting ticks for a lease (its accepted ticks stay settleable). */
  endLease(leaseId: Hex): void {
    const lease = this.leases.get(key(leaseId))
    if (lease != null) lease.active = false
  }

  /**
   * Check and durably record a lease's signed tick commitment. After it resolves, `acceptTick` takes the lease's
   * ticks. A lease is renewed (a new chain past the old one's last tick) with a new commitment under the same lease
   * id, starting at or above the channel's total.
   */
  async acceptCommitment(
    signed: SignedTickCommitment,
    expect: CommitmentExpectation,
    options: AbortOptions = {},
  ): Promise<AcceptedPayment> {
    const c = signed.commitment
    const channelId = key(c.channelId)
    const leaseId = key(c.leaseId)
    if (!this.hashFunctions.includes(c.hashFunction)) {
      throw new MalformedPaymentError(`Hash function not accepted (accepted: ${this.hashFunctions.join(', ')})`)
    }
    if (!Number.isInteger(c.maxTicks) || c.maxTicks < 1 || c.maxTicks > this.maxTicks) {
      throw new MalformedPaymentError(`maxTicks must be 1..${this.maxTicks}: renew or re-anchor for longer leases`)
    }
    if (c.amountPerTick <= 0n || c.amountPerTick > MAX_AMOUNT || c.baseAmount < 0n || c.baseAmount > MAX_AMOUNT) {
      throw new MalformedPaymentError('Amount out of range')
    }
    if (expect.amountPerTick != null && c.amountPerTick !== expect.amountPerTick) {
      throw new MalformedPaymentError('Commitment has another price per tick')
    }
    if (channelId !== key(expect.channelId)) throw new ChannelMismatchError('Commitment is for another channel')
    if (expect.leaseId != null && leaseId !== key(expect.leaseId)) {
      throw new ChannelMismatchError('Commitment is for another lease')
    }
    this.checkDomain(c.chainId, c.contract)
    const state = await this.openChannel(channelId, options)
    if (!isCanonicalSignature(signed.signature)) {
      throw new CommitmentNotSignedError('Commitment signature is not 65 bytes with a low s and v in {0, 1, 27, 28}')
    }
    let signer: Address
    try {
      signer = await recoverTickCommitmentSigner(signed)
    } catch (err) {
      throw new CommitmentNotSignedError('Commitment signature does not recover', { cause: err })
    }
    if (!isAddressEqual(signer, state.renter)) throw new WrongSignerError()
    const tip = key(c.tip)
    if (this.commitments.has(tip)) throw new AmountNotIncreasingError('Commitment already accepted')
    const known = this.channelTotal(channelId)
    if (c.baseAmount < known || c.baseAmount < state.settled) {
      throw new AmountNotIncreasingError('Commitment starts below what the channel already paid')
    }
    if (c.baseAmount + c.amountPerTick > state.deposit) {
      throw new AmountExceedsDepositError('Not even one tick fits in the deposit')
    }
    // Sequential leases: retire the channel's previous lease (or the renewed lease's previous chain). Its records go;
    // the best proof keeps the commitment it needs.
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
      if (!(best?.kind === 'ticks' && key(best.tip) === oldTip)) {
        this.commitments.delete(oldTip)
        ops.push({ type: 'del', key: COMMITMENT + oldTip })
      }
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
    await this.store.write(ops, options)
    return { channelId, total: this.channelTotal(channelId) }
  }

  /**
   * Check one tick of a lease (one hash) and record it durably. Resolves when the tick is on disk (group-committed
   * with other leases' ticks): that is the acknowledgement.
   */
  async acceptTick(
    leaseId: Hex,
    preimage: Uint8Array,
    options: AbortOptions & { index?: number } = {},
  ): Promise<AcceptedTick> {
    const lease = this.leases.get(key(leaseId))
    if (lease == null || !lease.active) throw new UnknownLeaseError()
    const c = lease.commitment.commitment
    let state = this.channels.peek(lease.channelId)
    if (state == null) {
      state = await this.openChannel(lease.channelId, options)
    } else if (this.channels.isStale(lease.channelId)) {
      // Refresh in the background: the hot path never waits for the chain while it has a recent state.
      this.channels.get(lease.channelId).catch((err) => log('channel refresh failed: %e', err))
    }
    if (state.closeRequestedAt !== 0n) throw new ChannelClosingError()
    const k = lease.ticks + 1
    if (k > c.maxTicks) throw new TickOutOfRangeError()
    if (options.index != null && options.index !== k) throw new InvalidPreimageError(`Expected tick ${k}`)
    if (!verifyTickPreimage(c.hashFunction, preimage, lease.last)) throw new InvalidPreimageError()
    const total = c.baseAmount + BigInt(k) * c.amountPerTick
    // Already settled past this (the contract would refuse it as AmountNotIncreasing).
    if (total <= state.settled) throw new AmountNotIncreasingError('Tick total is not above what was settled')
    if (total > state.deposit) {
      // The renter may have topped up since the last read.
      const fresh = await this.openChannel(lease.channelId, { ...options, force: true })
      if (total > fresh.deposit) throw new AmountExceedsDepositError()
      if (lease.ticks + 1 !== k) throw new InvalidPreimageError('Tick raced with another')
    }
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
      if (
        best?.kind === 'ticks' &&
        key(best.tip) !== key(c.tip) &&
        !this.isCurrentCommitment(lease.channelId, best.tip)
      ) {
        this.commitments.delete(key(best.tip))
        ops.push({ type: 'del', key: COMMITMENT + key(best.tip) })
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
    await this.store.write(ops, options)
    return { channelId: lease.channelId, leaseId: lease.leaseId, ticks: k, total: this.channelTotal(lease.channelId) }
  }

  /**
   * Check a cumulative voucher and record it durably. It must beat the channel's previous voucher and what is
   * settled; it becomes the best proof if it is at least as high as the ticks (it is cheaper to settle), and is kept
   * as the channel's voucher otherwise (a voucher may cross a tick in flight).
   */
  async acceptVoucher(
    voucher: Voucher,
    expect: { channelId?: Hex } = {},
    options: AbortOptions = {},
  ): Promise<AcceptedPayment> {
    const channelId = key(voucher.channelId)
    if (voucher.total < 0n || voucher.total > MAX_AMOUNT) throw new MalformedPaymentError('Amount out of range')
    if (expect.channelId != null && channelId !== key(expect.channelId)) {
      throw new ChannelMismatchError('Voucher is for another channel')
    }
    this.checkDomain(voucher.chainId, voucher.contract)
    const state = await this.openChannel(channelId, options)
    if (!isCanonicalSignature(voucher.signature)) {
      throw new WrongSignerError('Voucher signature is not 65 bytes with a low s and v in {0, 1, 27, 28}')
    }
    let signer: Address
    try {
      signer = await recoverVoucherSigner(voucher)
    } catch (err) {
      throw new WrongSignerError('Voucher signature does not recover', { cause: err })
    }
    if (!isAddressEqual(signer, state.renter)) throw new WrongSignerError()
    const previous = this.vouchers.get(channelId)
    if (voucher.total <= state.settled || (previous != null && voucher.total <= previous.total)) {
      throw new AmountNotIncreasingError()
    }
    if (voucher.total > state.deposit) throw new AmountExceedsDepositError()
    const stored: Voucher = { ...voucher, channelId }
    this.vouchers.set(channelId, stored)
    const ops: StoreOperation[] = [{ type: 'put', key: VOUCHER + channelId, value: stored }]
    const best = this.best.get(channelId)
    if (best == null || voucher.total >= best.total) {
      const record: BestRecord = { kind: 'voucher', total: voucher.total, voucher: stored }
      this.best.set(channelId, record)
      ops.push({ type: 'put', key: BEST + channelId, value: record })
      // The replaced tick proof's commitment is only kept while it is a lease's current one.
      if (best?.kind === 'ticks' && !this.isCurrentCommitment(channelId, best.tip)) {
        this.commitments.delete(key(best.tip))
        ops.push({ type: 'del', key: COMMITMENT + key(best.tip) })
      }
    }
    await this.store.write(ops, options)
    return { channelId, total: this.channelTotal(channelId) }
  }

  private isCurrentCommitment(channelId: Hex, tip: Hex): boolean {
    const active = this.activeLease.get(channelId)
    const lease = active == null ? undefined : this.leases.get(active)
    return lease != null && key(lease.commitment.commitment.tip) === key(tip)
  }

  private checkDomain(chainId: number, contract: Address): void {
    if (chainId !== this.chainId) throw new WrongChainError()
    if (!isAddressEqual(contract, this.contract)) throw new WrongContractError()
  }

  /** The channel's state, checked: exists, pays this provider, is bound to this node, not closing. */
  private async openChannel(channelId: Hex, options: AbortOptions & { force?: boolean }): Promise<ChannelState> {
    const state = await this.channels.get(channelId, options)
    if (state == null) throw new ChannelNotOpenError()
    if (!isAddressEqual(state.provider, this.provider)) throw new ChannelMismatchError('Channel is to another provider')
    if (key(state.providerNode) !== this.providerNode) {
      throw new ChannelMismatchError('Channel is bound to another node of this payout address')
    }
    if (state.closeRequestedAt !== 0n) throw new ChannelClosingError()
    return state
  }
}

/**
 * Create the provider's payment receiver.
 *
 * @example
 * const providerNode = providerNodeId(peerId.toMultihash().bytes)
 * const receiver = createPaymentReceiver({ store, channels }, { chainId, contract, provider: me.address, providerNode })
 * await receiver.start()
 * await receiver.acceptCommitment(signedCommitment, { channelId })
 * await receiver.acceptTick(leaseId, preimage) // once a second
 */
export function createPaymentReceiver(
  components: PaymentReceiverComponents,
  init: PaymentReceiverInit,
): PaymentReceiver {
  return new PaymentReceiver(components, init)
}
