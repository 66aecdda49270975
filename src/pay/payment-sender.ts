import { randomBytes } from 'node:crypto'
import type { AbortOptions } from '@libp2p/interface'
import { type Address, bytesToHex, type Hex, type LocalAccount } from 'viem'
import { MAX_TICKS } from './constants.js'
import { signTickCommitment, signVoucher } from './eip712.js'
import { AmountExceedsDepositError, TickOutOfRangeError, UnknownLeaseError } from './errors.js'
import { HashChain } from './hash-chain.js'
import type { PaymentStore } from './payment-store.js'
import type { HashFunctionName, SignedTickCommitment, Tick, Voucher } from './types.js'

const CHANNEL = 'send/channel/'
const LEASE = 'send/lease/'

interface ChannelRecord {
  /** Cumulative total this renter has authorised on the channel. */
  total: bigint
}

interface LeaseRecord {
  channelId: Hex
  ticks: number
  commitment: SignedTickCommitment
}

interface SenderLease {
  leaseId: Hex
  channelId: Hex
  chain: HashChain
  commitment: SignedTickCommitment
  /** Ticks accepted under the current commitment. */
  ticks: number
  /** Chain elements spent under earlier commitments of this chain (re-anchoring). */
  offset: number
  /** Ticks since the last voucher, across renewals: the provider expects one every `voucherEveryTicks`. */
  sinceVoucher: number
  voucherEveryTicks: number
}

export interface PaymentSenderComponents {
  store: PaymentStore
  /** The renter's key: signs commitments and vouchers. */
  account: LocalAccount
}

export interface PaymentSenderInit {
  chainId: number
  contract: Address
  /** Default keccak256 (see protocols/README.md, section pay). */
  hashFunction?: HashFunctionName
  /** Sign a cumulative voucher every this many ticks (and at lease end); default 60. */
  voucherEveryTicks?: number
  /**
   * Re-anchor the lease every this many ticks: sign a commitment continuing the same chain from the last revealed
   * value, so an on-chain tick proof never hashes more than this many steps. Default: off (vouchers only).
   */
  reanchorEveryTicks?: number
}

export interface StartLeaseParameters {
  channelId: Hex
  /** Default: random. */
  leaseId?: Hex
  amountPerTick: bigint
  maxTicks: number
  /** If known, the lease refuses ticks past it (the provider would refuse them anyway). */
  deposit?: bigint
  /** A voucher at least every this many ticks (the provider's quote says); default the sender's own. */
  voucherEveryTicks?: number
}

export interface NextTick {
  tick: Tick
  /** The channel's cumulative total after this tick. */
  total: bigint
  /** Every `voucherEveryTicks` ticks, a voucher for `total` to send along. */
  voucher?: Voucher
  /** Every `reanchorEveryTicks` ticks, the re-anchored commitment to send after the tick. */
  commitment?: SignedTickCommitment
}

/**
 * The renter's side of payments. Per lease: one hash chain and one signed commitment; each second, the next
 * preimage; every N seconds and at the end, a cumulative voucher. The channel's cumulative total is persisted before
 * each tick is handed out, so after a restart the next lease starts at (or just above) what the provider holds:
 * a tick lost in flight costs the renter at most one tick, never the provider.
 */
export class PaymentSender {
  private readonly store: PaymentStore
  private readonly account: LocalAccount
  private readonly chainId: number
  private readonly contract: Address
  private readonly hashFunction: HashFunctionName
  private readonly voucherEveryTicks: number
  private readonly reanchorEveryTicks: number | undefined
  private readonly totals = new Map<Hex, bigint>()
  private readonly leases = new Map<Hex, SenderLease & { deposit?: bigint }>()

  constructor(components: PaymentSenderComponents, init: PaymentSenderInit) {
    this.store = components.store
    this.account = components.account
    this.chainId = init.chainId
    this.contract = init.contract
    this.hashFunction = init.hashFunction ?? 'keccak256'
    this.voucherEveryTicks = init.voucherEveryTicks ?? 60
    this.reanchorEveryTicks = init.reanchorEveryTicks
  }

  async start(): Promise<void> {
    for (const [k, r] of await this.store.list<ChannelRecord>(CHANNEL)) {
      this.totals.set(k.slice(CHANNEL.length).toLowerCase() as Hex, r.total)
    }
  }

  async stop(): Promise<void> {
    await this.store.drain()
  }

  /** What this renter has authorised on the channel so far. */
  channelTotal(channelId: Hex): bigint {
    return this.totals.get(channelId.toLowerCase() as Hex) ?? 0n
  }

  /**
   * Raise the local total to what the provider reports (e.g. after this renter lost its store). Never lowers it.
   */
  async syncChannelTotal(channelId: Hex, total: bigint, options: AbortOptions = {}): Promise<void> {
    const id = channelId.toLowerCase() as Hex
    if (total <= this.channelTotal(id)) return
    this.totals.set(id, total)
    await this.store.put(CHANNEL + id, { total } satisfies ChannelRecord, options)
  }

  /** Make a lease's hash chain and sign its commitment (baseAmount = the channel's current total). */
  async startLease(params: StartLeaseParameters, options: AbortOptions = {}): Promise<SignedTickCommitment> {
    if (!Number.isInteger(params.maxTicks) || params.maxTicks < 1 || params.maxTicks > MAX_TICKS) {
      throw new TickOutOfRangeError(`maxTicks must be 1..${MAX_TICKS}`)
    }
    const channelId = params.channelId.toLowerCase() as Hex
    const leaseId = (params.leaseId ?? bytesToHex(randomBytes(32))).toLowerCase() as Hex
    const chain = new HashChain(this.hashFunction, params.maxTicks)
    const commitment = await signTickCommitment(this.account, {
      chainId: this.chainId,
      contract: this.contract,
      channelId,
      leaseId,
      tip: chain.tip,
      hashFunction: this.hashFunction,
      amountPerTick: params.amountPerTick,
      baseAmount: this.channelTotal(channelId),
      maxTicks: params.maxTicks,
    })
    // Leases on a channel are sequential: a new one retires the channel's previous lease (the provider does too).
    const retired: Hex[] = []
    for (const [id, other] of this.leases) if (other.channelId === channelId) retired.push(id)
    for (const id of retired) this.leases.delete(id)
    const lease: SenderLease & { deposit?: bigint } = {
      leaseId,
      channelId,
      chain,
      commitment,
      ticks: 0,
      offset: 0,
      sinceVoucher: 0,
      voucherEveryTicks: Math.min(this.voucherEveryTicks, params.voucherEveryTicks ?? this.voucherEveryTicks),
    }
    if (params.deposit != null) lease.deposit = params.deposit
    this.leases.set(leaseId, lease)
    await this.store.write(
      [
        ...retired.map((id) => ({ type: 'del' as const, key: LEASE + id })),
        { type: 'put', key: LEASE + leaseId, value: { channelId, ticks: 0, commitment } satisfies LeaseRecord },
      ],
      options,
    )
    return commitment
  }

  /**
   * Continue a lease past its chain's last tick: a new chain and commitment under the same lease id, starting at the
   * channel's current total.
   */
  async renewLease(
    leaseId: Hex,
    params: { maxTicks: number; amountPerTick?: bigint; deposit?: bigint },
    options: AbortOptions = {},
  ): Promise<SignedTickCommitment> {
    const lease = this.leases.get(leaseId.toLowerCase() as Hex)
    if (lease == null) throw new UnknownLeaseError()
    const next: StartLeaseParameters = {
      channelId: lease.channelId,
      leaseId: lease.leaseId,
      amountPerTick: params.amountPerTick ?? lease.commitment.commitment.amountPerTick,
      maxTicks: params.maxTicks,
    }
    const deposit = params.deposit ?? lease.deposit
    if (deposit != null) next.deposit = deposit
    next.voucherEveryTicks = lease.voucherEveryTicks
    const commitment = await this.startLease(next, options)
    // The voucher cadence runs on across the renewal.
    const renewed = this.leases.get(lease.leaseId)
    if (renewed != null) renewed.sinceVoucher = lease.sinceVoucher
    return commitment
  }

  /**
   * Re-anchor a lease: sign a commitment under the same lease id whose tip is the last revealed chain value and
   * whose base is the current total. Ticks continue on the same chain; an on-chain proof then only hashes back to
   * this anchor. Send it right after the tick it follows.
   */
  async reanchor(leaseId: Hex, options: AbortOptions = {}): Promise<SignedTickCommitment> {
    const lease = this.leases.get(leaseId.toLowerCase() as Hex)
    if (lease == null) throw new UnknownLeaseError()
    const c = lease.commitment.commitment
    const offset = lease.offset + lease.ticks
    const remaining = lease.chain.length - offset
    if (lease.ticks === 0 || remaining < 1) throw new TickOutOfRangeError('Nothing to re-anchor: renew the lease')
    const commitment = await signTickCommitment(this.account, {
      ...c,
      tip: bytesToHex(lease.chain.element(remaining)),
      baseAmount: c.baseAmount + BigInt(lease.ticks) * c.amountPerTick,
      maxTicks: remaining,
    })
    lease.commitment = commitment
    lease.offset = offset
    lease.ticks = 0
    await this.store.put(
      LEASE + lease.leaseId,
      { channelId: lease.channelId, ticks: 0, commitment } satisfies LeaseRecord,
      options,
    )
    return commitment
  }

  /** The next tick of a lease (recorded durably first), with a voucher every `voucherEveryTicks` ticks. */
  async nextTick(leaseId: Hex, options: AbortOptions = {}): Promise<NextTick> {
    const lease = this.leases.get(leaseId.toLowerCase() as Hex)
    if (lease == null) throw new UnknownLeaseError()
    const c = lease.commitment.commitment
    const k = lease.ticks + 1
    if (k > c.maxTicks) throw new TickOutOfRangeError()
    const total = c.baseAmount + BigInt(k) * c.amountPerTick
    if (lease.deposit != null && total > lease.deposit) throw new AmountExceedsDepositError()
    lease.ticks = k
    this.totals.set(lease.channelId, total)
    await this.store.write(
      [
        { type: 'put', key: CHANNEL + lease.channelId, value: { total } satisfies ChannelRecord },
        {
          type: 'put',
          key: LEASE + lease.leaseId,
          value: { channelId: lease.channelId, ticks: k, commitment: lease.commitment },
        },
      ],
      options,
    )
    const next: NextTick = {
      tick: { leaseId: lease.leaseId, index: k, preimage: lease.chain.preimage(lease.offset + k) },
      total,
    }
    const spent = lease.offset + k
    lease.sinceVoucher++
    if (lease.sinceVoucher >= lease.voucherEveryTicks) {
      lease.sinceVoucher = 0
      next.voucher = await this.signVoucher(lease.channelId)
    }
    if (this.reanchorEveryTicks != null && k % this.reanchorEveryTicks === 0 && spent < lease.chain.length) {
      next.commitment = await this.reanchor(lease.leaseId, options)
    }
    return next
  }

  /** A voucher for the channel's current cumulative total. */
  async signVoucher(channelId: Hex): Promise<Voucher> {
    const id = channelId.toLowerCase() as Hex
    return signVoucher(this.account, {
      chainId: this.chainId,
      contract: this.contract,
      channelId: id,
      total: this.channelTotal(id),
    })
  }

  /** End a lease: forget its chain and return the final cumulative voucher to send. */
  async endLease(leaseId: Hex, options: AbortOptions = {}): Promise<Voucher | undefined> {
    const id = leaseId.toLowerCase() as Hex
    const lease = this.leases.get(id)
    if (lease == null) return undefined
    this.leases.delete(id)
    await this.store.del(LEASE + id, options)
    return lease.ticks > 0 ? this.signVoucher(lease.channelId) : undefined
  }
}

/**
 * Create the renter's payment sender.
 *
 * @example
 * const sender = createPaymentSender({ store, account }, { chainId, contract })
 * await sender.start()
 * const commitment = await sender.startLease({ channelId, amountPerTick: 10n, maxTicks: 3600 })
 * const { tick, voucher } = await sender.nextTick(commitment.commitment.leaseId) // once a second
 */
export function createPaymentSender(components: PaymentSenderComponents, init: PaymentSenderInit): PaymentSender {
  return new PaymentSender(components, init)
}
