import type { AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { type Address, type Hex, isAddressEqual } from 'viem'
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
  type PayError,
  TickOutOfRangeError,
  UnknownLeaseError,
  WrongChainError,
  WrongContractError,
  WrongSignerError,
} from './errors.js'
import { verifyTickPreimage } from './hash-chain.js'
import type { PaymentStore } from './payment-store.js'
import { key, ReceiverState } from './receiver-state.js'
import type { ChannelState, HashFunctionName, PaymentProof, SignedTickCommitment, Voucher } from './types.js'

const log = logger('parkbench:pay:receiver')

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
  private readonly state: ReceiverState
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
    this.state = new ReceiverState(components.store)
  }

  /** Load best proofs and lease progress from the store. */
  async start(): Promise<void> {
    if (this.started) return
    await this.state.load()
    this.started = true
    const { bestProofs, leases } = this.state.size()
    log('loaded %d best proofs, %d leases', bestProofs, leases)
  }

  async stop(): Promise<void> {
    await this.store.drain()
    this.started = false
  }

  /** The channel's best proof (highest total accepted), if any. */
  bestProof(channelId: Hex): PaymentProof | undefined {
    return this.state.bestProof(channelId)
  }

  /** The channel's highest accepted voucher, which may be below the best proof when ticks came after it. */
  bestVoucher(channelId: Hex): Voucher | undefined {
    return this.state.bestVoucher(channelId)
  }

  /** The channel's best accepted total (0n if nothing yet). */
  channelTotal(channelId: Hex): bigint {
    return this.state.channelTotal(channelId)
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
    return this.state.channelIds()
  }

  /** A lease's progress, or undefined if unknown. */
  leaseProgress(leaseId: Hex): { channelId: Hex; ticks: number; total: bigint; active: boolean } | undefined {
    const lease = this.state.lease(leaseId)
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
    const lease = this.state.lease(leaseId)
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
    // Lease ids are the provider's and unique: one held on another channel would retire that channel's proofs.
    const holder = this.state.lease(leaseId)
    if (holder != null && key(holder.channelId) !== channelId) {
      throw new ChannelMismatchError('The lease id is in use on another channel')
    }
    this.checkDomain(c.chainId, c.contract)
    let state = await this.openChannel(channelId, options)
    await checkRenterSignature(
      'Commitment',
      signed.signature,
      () => recoverTickCommitmentSigner(signed),
      state.renter,
      CommitmentNotSignedError,
    )
    const growing = (): void => {
      if (this.state.hasCommitment(c.tip)) throw new AmountNotIncreasingError('Commitment already accepted')
      if (c.baseAmount < this.channelTotal(channelId) || c.baseAmount < state.settled) {
        throw new AmountNotIncreasingError('Commitment starts below what the channel already paid')
      }
    }
    growing()
    if (c.baseAmount + c.amountPerTick > state.deposit) {
      // The renter may have topped up since the last read: read again before refusing.
      state = await this.openChannel(channelId, { ...options, force: true })
      growing()
      if (c.baseAmount + c.amountPerTick > state.deposit) {
        throw new AmountExceedsDepositError('Not even one tick fits in the deposit')
      }
    }
    // No await between the checks and the record.
    await this.store.write(this.state.recordCommitment(signed), options)
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
    const lease = this.state.lease(leaseId)
    if (lease == null || !lease.active) throw new UnknownLeaseError()
    const c = lease.commitment.commitment
    let state = this.channels.peek(lease.channelId)
    if (state == null) {
      state = await this.openChannel(lease.channelId, options)
    } else if (this.channels.isStale(lease.channelId)) {
      // Refresh in the background, in a round with other stale channels: the hot path never waits for the chain
      // while it has a recent state.
      this.channels.refreshSoon(lease.channelId, (err) => log('channel refresh failed: %e', err))
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
    // No await between the checks and the record: a tick checked against lease.last is the one recorded after it.
    await this.store.write(this.state.recordTick(lease, k, preimage, total), options)
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
    let state = await this.openChannel(channelId, options)
    await checkRenterSignature(
      'Voucher',
      voucher.signature,
      () => recoverVoucherSigner(voucher),
      state.renter,
      WrongSignerError,
    )
    const growing = (): void => {
      const previous = this.state.bestVoucher(channelId)
      if (voucher.total <= state.settled || (previous != null && voucher.total <= previous.total)) {
        throw new AmountNotIncreasingError()
      }
    }
    growing()
    if (voucher.total > state.deposit) {
      // The renter may have topped up since the last read: read again before refusing.
      state = await this.openChannel(channelId, { ...options, force: true })
      growing()
      if (voucher.total > state.deposit) throw new AmountExceedsDepositError()
    }
    // No await between the checks and the record.
    await this.store.write(this.state.recordVoucher(voucher), options)
    return { channelId, total: this.channelTotal(channelId) }
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
 * A commitment's or voucher's signature, checked as the contract checks it: 65 bytes with a low s, recovering to the
 * channel's renter. A malformed or unrecoverable signature is the message's own rule (`Unsigned`), another signer
 * WrongSignerError.
 */
async function checkRenterSignature(
  what: 'Commitment' | 'Voucher',
  signature: Hex,
  recover: () => Promise<Address>,
  renter: Address,
  Unsigned: new (message?: string, options?: ErrorOptions) => PayError,
): Promise<void> {
  if (!isCanonicalSignature(signature)) {
    throw new Unsigned(`${what} signature is not 65 bytes with a low s and v in {0, 1, 27, 28}`)
  }
  let signer: Address
  try {
    signer = await recover()
  } catch (err) {
    throw new Unsigned(`${what} signature does not recover`, { cause: err })
  }
  if (!isAddressEqual(signer, renter)) throw new WrongSignerError()
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
