import { setMaxListeners } from 'node:events'
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Multiaddr } from '@multiformats/multiaddr'
import { bytesToHex, type Hex } from 'viem'
import { MalformedMessageError, PeerUnreachableError } from '../net/errors.js'
import { createMessageStream, type MessageStream } from '../net/message-stream.js'
import { openProtocolStream, type RpcNode } from '../net/rpc.js'
import { amountFromBytes, encodeSignedTickCommitment, encodeTick, encodeVoucher } from '../pay/messages.js'
import type { PaymentSender } from '../pay/payment-sender.js'
import { LEASE_LIMITS, LEASE_PROTOCOL } from './constants.js'
import { InvalidQuoteError, LeaseEndedError, LeaseProtocolError, LeaseRefusedError } from './errors.js'
import { endReasonName, renterMessage } from './messages.js'
import { amountPerTick, costOfTicks, isPaidUp, msUntilNextTick, paidUntilMs, ticksIn } from './metering.js'
import {
  EndReason,
  LeaseReply,
  LeaseRequest,
  LeaseStatus,
  ProviderMessage,
  type Quote,
  RenterMessage,
} from './pb/lease.js'
import { verifyQuote } from './quote.js'

const log = logger('parkbench:lease:renter')

export interface RenterLeaseComponents {
  node: Pick<RpcNode, 'dialProtocol'> & { peerId: PeerId }
  /** `channelTotal` is what the renter itself authorised: a quote claiming more is refused. */
  sender: Pick<PaymentSender, 'startLease' | 'renewLease' | 'nextTick' | 'endLease' | 'channelTotal'>
}

export interface OpenLeaseParameters {
  /** The provider: its peer id (addresses in the peer store) or a multiaddr ending in /p2p/<id>. */
  provider: PeerId | Multiaddr
  providerPeerId: PeerId
  /** The renter's open channel to this provider. */
  channelId: Hex
  /** Models the lease is for (lowercase hex sha256); empty for any model the provider holds. */
  models?: string[]
  maxPricePerSecond: bigint
  /** Seconds per commitment; the lease renews by as much again while it is in use. */
  seconds: number
  threads?: number
  /** Keep renewing until `end()`. Default true; false lets the lease expire after `seconds`. */
  renew?: boolean
}

/** What a lease cost and how it ended. */
export interface RenterLeaseSummary {
  leaseId: Hex
  /** The provider's peer id. */
  providerPeer: string
  channelId: Hex
  pricePerSecond: bigint
  ticksSent: number
  ticksAcknowledged: number
  /** Amount the renter authorised in this lease: ticks sent x amount per tick. */
  amountPaid: bigint
  endReason?: keyof typeof EndReason
}

const now = (): number => performance.now()

/**
 * A lease as the renter holds it: after the quote is accepted it pays one tick ahead, every tick interval, and
 * stops paying (ending the lease PROVIDER_UNRESPONSIVE) as soon as a tick goes unacknowledged, so the renter is
 * never out more than the tick it prepaid.
 */
export class RenterLease {
  readonly leaseId: Hex
  readonly quote: Quote
  readonly providerPeerId: PeerId
  /** Resolves with the end reason once the lease has ended, whoever ended it. */
  readonly ended: Promise<EndReason>
  private resolveEnded!: (reason: EndReason) => void
  private readonly components: RenterLeaseComponents
  private readonly params: OpenLeaseParameters
  private readonly messages: MessageStream
  private commitmentTicks = 0
  private commitmentMaxTicks: number
  private ticksSent = 0
  private ticksAcked = 0
  private startedAtMono = 0
  private timer: NodeJS.Timeout | undefined
  private endReason: EndReason | undefined
  private ending = false

  constructor(
    components: RenterLeaseComponents,
    params: OpenLeaseParameters,
    init: { messages: MessageStream; quote: Quote; commitmentMaxTicks: number },
  ) {
    this.components = components
    this.params = params
    this.messages = init.messages
    this.quote = init.quote
    this.leaseId = bytesToHex(init.quote.leaseId)
    this.providerPeerId = params.providerPeerId
    this.commitmentMaxTicks = init.commitmentMaxTicks
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve
    })
  }

  /** True until the lease ends. */
  get active(): boolean {
    return this.endReason === undefined
  }

  /** Is the lease paid up right now (the provider will admit jobs)? */
  get paidUp(): boolean {
    const paidUntil = paidUntilMs(this.ticksAcked, this.quote.tickIntervalMs)
    return this.active && this.ticksAcked > 0 && isPaidUp(this.startedAtMono, paidUntil, now())
  }

  summary(): RenterLeaseSummary {
    const summary: RenterLeaseSummary = {
      leaseId: this.leaseId,
      providerPeer: this.providerPeerId.toString(),
      channelId: this.params.channelId,
      pricePerSecond: this.quote.pricePerSecond,
      ticksSent: this.ticksSent,
      ticksAcknowledged: this.ticksAcked,
      amountPaid: costOfTicks(this.ticksSent, this.quote.amountPerTick),
    }
    if (this.endReason !== undefined) summary.endReason = endReasonName(this.endReason)
    return summary
  }

  /** Resolve once the first tick is acknowledged (the provider serves from then on). */
  async waitPaidUp(options: AbortOptions = {}): Promise<void> {
    const signal = options.signal ?? AbortSignal.timeout(10_000)
    while (this.ticksAcked === 0) {
      if (!this.active) throw new LeaseEndedError(this.endReason!)
      if (signal.aborted) throw new LeaseProtocolError('The provider did not acknowledge the first tick')
      await new Promise((r) => setTimeout(r, 2))
    }
  }

  /** @internal Start paying and reading the provider's messages. */
  begin(): void {
    this.startedAtMono = now()
    void this.readLoop()
    void this.payTick()
  }

  /** End the lease: send END with a final voucher and wait (briefly) for the provider's ENDED. */
  async end(reason: EndReason = EndReason.RENTER_ENDED): Promise<RenterLeaseSummary> {
    if (this.active && !this.ending) {
      this.ending = true
      clearTimeout(this.timer)
      try {
        const voucher = await this.components.sender.endLease(this.leaseId)
        await this.write(
          renterMessage(RenterMessage.Kind.END, {
            reason,
            ...(voucher != null ? { voucher: Uint8Array.from(encodeVoucher(voucher)) } : {}),
          }),
        )
        await Promise.race([this.ended, new Promise((r) => setTimeout(r, 2_000).unref())])
      } catch (err) {
        log('ending lease %s - %s', this.leaseId, (err as Error).message)
      }
      this.finish(reason)
    }
    await this.ended
    return this.summary()
  }

  private finish(reason: EndReason): void {
    if (this.endReason !== undefined) return
    this.endReason = reason
    clearTimeout(this.timer)
    this.messages.close({ signal: AbortSignal.timeout(2_000) }).catch((err: Error) => this.messages.abort(err))
    this.resolveEnded(reason)
    log('lease %s ended %s', this.leaseId, String(reason))
  }

  private async write(message: RenterMessage): Promise<void> {
    const signal = AbortSignal.timeout(5_000)
    setMaxListeners(Infinity, signal)
    await this.messages.write(message, RenterMessage, { signal })
  }

  /** Pay the next tick (tick k at start + (k-1) x interval), unless the provider stopped acknowledging. */
  private async payTick(): Promise<void> {
    if (!this.active || this.ending) return
    const { sender } = this.components
    const interval = this.quote.tickIntervalMs
    // Pay tick k only once tick k-1 is acknowledged (waiting up to the grace for it): a provider that has gone
    // quiet gets nothing more than the tick already prepaid.
    const waitUntil = now() + this.quote.graceMs
    while (this.ticksAcked < this.ticksSent && now() < waitUntil && this.active) {
      await new Promise((r) => setTimeout(r, 5))
    }
    if (!this.active || this.ending) return
    if (this.ticksAcked < this.ticksSent) {
      await this.abandon(EndReason.PROVIDER_UNRESPONSIVE)
      return
    }
    try {
      if (this.commitmentTicks >= this.commitmentMaxTicks) {
        if (this.params.renew === false) return // runs out; the provider ends it EXPIRED
        await this.renew()
      }
      const { tick, voucher } = await sender.nextTick(this.leaseId)
      this.commitmentTicks++
      this.ticksSent++
      await this.write(renterMessage(RenterMessage.Kind.TICK, { tick: Uint8Array.from(encodeTick(tick)) }))
      if (voucher != null) {
        await this.write(
          renterMessage(RenterMessage.Kind.VOUCHER, { voucher: Uint8Array.from(encodeVoucher(voucher)) }),
        )
      }
    } catch (err) {
      log('paying tick of %s failed - %s', this.leaseId, (err as Error).message)
      await this.abandon(EndReason.PROTOCOL_ERROR)
      return
    }
    // Tick k+1 goes out a little before second k+1 begins on the provider's clock (which starts when tick 1
    // arrives), so that a job sent at the boundary never finds the lease unpaid.
    const next = msUntilNextTick(this.startedAtMono, this.ticksSent, interval, now())
    this.timer = setTimeout(() => void this.payTick(), next)
  }

  /** Continue past the commitment's last tick: a new hash chain under the same lease id. */
  private async renew(): Promise<void> {
    const perCommitment = ticksIn(Math.min(this.params.seconds, this.quote.maxSeconds), this.quote.tickIntervalMs)
    const commitment = await this.components.sender.renewLease(this.leaseId, { maxTicks: Math.max(1, perCommitment) })
    this.commitmentTicks = 0
    this.commitmentMaxTicks = commitment.commitment.maxTicks
    await this.write(
      renterMessage(RenterMessage.Kind.RENEW, { commitment: Uint8Array.from(encodeSignedTickCommitment(commitment)) }),
    )
  }

  /** Stop paying and drop the stream without waiting for the provider. */
  private async abandon(reason: EndReason): Promise<void> {
    this.ending = true
    this.messages.abort(new LeaseEndedError(reason))
    this.finish(reason)
  }

  private async readLoop(): Promise<void> {
    while (this.active) {
      let message: ProviderMessage
      try {
        message = await this.messages.read(ProviderMessage)
      } catch (err) {
        // A frame over the limit or one that does not decode: the provider broke the protocol. Stop paying.
        if (err instanceof MalformedMessageError && !this.ending) {
          await this.abandon(EndReason.PROTOCOL_ERROR)
          return
        }
        // The stream broke: the provider is gone. Stop paying.
        this.finish(this.ending ? EndReason.RENTER_ENDED : EndReason.PROVIDER_UNRESPONSIVE)
        return
      }
      switch (message.kind) {
        case ProviderMessage.Kind.TICK_ACK:
          this.ticksAcked = Math.min(this.ticksSent, this.ticksAcked + 1)
          break
        case ProviderMessage.Kind.ENDED:
          this.finish(message.endReason)
          return
        case ProviderMessage.Kind.VOUCHER_ACK:
        case ProviderMessage.Kind.RENEWED:
          if (message.status !== LeaseStatus.OK) {
            await this.abandon(EndReason.PAYMENT_INVALID)
            return
          }
          break
        default:
          await this.abandon(EndReason.PROTOCOL_ERROR)
          return
      }
    }
  }
}

/**
 * Negotiate a lease with a provider: request, verify its signed quote, accept with a tick commitment, and start
 * paying one tick ahead. Throws {@link LeaseRefusedError} (with the provider's status) when refused.
 *
 * @example
 * ```ts
 * const lease = await openLease({ node, sender }, { provider, providerPeerId, channelId, maxPricePerSecond: 10n ** 9n, seconds: 60 })
 * await lease.waitPaidUp()
 * // ... run jobs ...
 * const summary = await lease.end()
 * ```
 */
export async function openLease(
  components: RenterLeaseComponents,
  params: OpenLeaseParameters,
  options: AbortOptions = {},
): Promise<RenterLease> {
  const signal = options.signal ?? AbortSignal.timeout(15_000)
  setMaxListeners(Infinity, signal)
  let stream: Stream
  try {
    stream = await openProtocolStream(components.node, params.provider, LEASE_PROTOCOL, { signal })
  } catch (err) {
    throw new PeerUnreachableError(`Could not open a lease stream: ${(err as Error).message}`, { cause: err })
  }
  const messages = createMessageStream(stream, { maxDataLength: LEASE_LIMITS.maxMessageBytes })
  try {
    await messages.write(
      {
        models: (params.models ?? []).map((m) => Uint8Array.from(Buffer.from(m, 'hex'))),
        maxPricePerSecond: params.maxPricePerSecond,
        seconds: params.seconds,
        threads: params.threads ?? 1,
        channelId: Uint8Array.from(Buffer.from(params.channelId.slice(2), 'hex')),
      },
      LeaseRequest,
      { signal },
    )
    const reply = await messages.read(LeaseReply, { signal })
    if (reply.status !== LeaseStatus.OK) throw new LeaseRefusedError(reply.status, reply.reason)
    const quote = await verifyQuote(params.providerPeerId, reply.quote, reply.signature)
    checkQuote(quote, params, components.node.peerId, components.sender.channelTotal(params.channelId))
    const commitmentMaxTicks = ticksIn(quote.maxSeconds, quote.tickIntervalMs)
    const commitment = await components.sender.startLease(
      {
        channelId: params.channelId,
        leaseId: bytesToHex(quote.leaseId),
        amountPerTick: quote.amountPerTick,
        maxTicks: commitmentMaxTicks,
        ...(quote.voucherEveryTicks > 0 ? { voucherEveryTicks: quote.voucherEveryTicks } : {}),
      },
      { signal },
    )
    await messages.write(
      renterMessage(RenterMessage.Kind.ACCEPT, { commitment: Uint8Array.from(encodeSignedTickCommitment(commitment)) }),
      RenterMessage,
      { signal },
    )
    const started = await messages.read(ProviderMessage, { signal })
    if (started.kind !== ProviderMessage.Kind.STARTED || started.status !== LeaseStatus.OK) {
      throw new LeaseRefusedError(started.status, started.reason)
    }
    const lease = new RenterLease(components, params, { messages, quote, commitmentMaxTicks })
    lease.begin()
    return lease
  } catch (err) {
    messages.abort(err as Error)
    throw err
  }
}

/**
 * Check a verified quote against what the renter asked and what it knows. `ownTotal` is what this renter has
 * authorised on the channel: the commitment starts there (the sender's base amount), and a provider claiming a
 * higher total would have the renter sign over amounts it never paid, so that quote is refused.
 */
function checkQuote(quote: Quote, params: OpenLeaseParameters, self: PeerId, ownTotal: bigint): void {
  if (!Buffer.from(quote.renterPeerId).equals(Buffer.from(self.toMultihash().bytes))) {
    throw new InvalidQuoteError('The quote was made for another renter')
  }
  if (bytesToHex(quote.channelId) !== params.channelId.toLowerCase())
    throw new InvalidQuoteError('The quote is for another channel')
  if (quote.pricePerSecond > params.maxPricePerSecond)
    throw new InvalidQuoteError('The quote is above the price ceiling')
  if (quote.tickIntervalMs < 100 || quote.tickIntervalMs > 60_000)
    throw new InvalidQuoteError('Tick interval out of range')
  if (quote.amountPerTick !== amountPerTick(quote.pricePerSecond, quote.tickIntervalMs)) {
    throw new InvalidQuoteError('Amount per tick does not match the price')
  }
  if (quote.maxSeconds < 1 || quote.maxSeconds > params.seconds)
    throw new InvalidQuoteError('Granted seconds out of range')
  if (quote.leaseId.length !== 32) throw new InvalidQuoteError('Lease id must be 32 bytes')
  let quotedTotal: bigint
  try {
    quotedTotal = amountFromBytes(quote.channelTotal)
  } catch (err) {
    throw new InvalidQuoteError('The channel total is not an amount', { cause: err })
  }
  if (quotedTotal > ownTotal) {
    throw new InvalidQuoteError(
      `The provider puts the channel's total at ${quotedTotal}, above the ${ownTotal} this renter authorised on it`,
    )
  }
}
