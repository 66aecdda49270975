import type { PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { Hex } from 'viem'
import { MalformedMessageError } from '../net/errors.js'
import type { MessageStream } from '../net/message-stream.js'
import { amountToBytes, decodeSignedTickCommitment, decodeTick, decodeVoucher } from '../pay/messages.js'
import type { PaymentReceiver } from '../pay/payment-receiver.js'
import { endReasonName, providerMessage } from './messages.js'
import { isPaidUp, isVoucherOverdue, msUntilLate, paidUntilMs, ticksIn, ticksSinceVoucherAfter } from './metering.js'
import { EndReason, LeaseStatus, ProviderMessage, RenterMessage } from './pb/lease.js'

const log = logger('parkbench:lease:provider')

/** A lease as `parkbench leases` shows it. */
export interface LeaseInfo {
  leaseId: Hex
  renter: string
  channelId: Hex
  models: string[]
  threads: number
  pricePerSecond: bigint
  startedAt: number
  endedAt?: number
  endReason?: keyof typeof EndReason
  ticksPaid: number
  /** Amount accepted in this lease (ticks x amount per tick). */
  amountPaid: bigint
  jobs: number
  jobRunMs: number
  state: 'active' | 'suspended' | 'ended'
}

/** The provider's metering terms a running lease needs. */
export interface MeteringTerms {
  tickIntervalMs: number
  graceMs: number
  voucherEveryTicks: number
  /** Longest duration one commitment may cover (renewals included). */
  maxLeaseSeconds: number
}

export interface MeteredLeaseInit {
  info: LeaseInfo
  renter: PeerId
  models: Set<string>
  /** Ticks the accepted commitment covers. */
  commitmentMaxTicks: number
  amountPerTick: bigint
  messages: MessageStream
  terms: MeteringTerms
  receiver: Pick<PaymentReceiver, 'acceptCommitment' | 'acceptTick' | 'acceptVoucher' | 'endLease'>
  /** Called once, at once, when the lease ends (before the renter is told): release what it holds. */
  onEnd(lease: MeteredLease): void
  /** Called once the renter has been told the lease ended. */
  onEnded?(info: LeaseInfo): void
}

const now = (): number => performance.now()

/** How long a message to the renter may wait for a backed-up stream. */
const SEND_TIMEOUT_MS = 5_000

/**
 * One running lease on the provider: reads the renter's ticks, vouchers and renewals, serves only while paid up, and
 * ends the lease PAYMENT_LATE when a tick is later than the grace (EXPIRED when the commitment ran out).
 */
export class MeteredLease {
  readonly info: LeaseInfo
  readonly renter: PeerId
  readonly models: Set<string>
  private readonly init: MeteredLeaseInit
  /** Ticks in the current commitment, and its maximum. */
  private commitmentTicks = 0
  private commitmentMaxTicks: number
  /** ms since start that are paid for. */
  private paidUntilMs = 0
  /** Ticks accepted since the last voucher that covered the lease's total (less one tick in flight). */
  private ticksSinceVoucher = 0
  /** When STARTED was sent, then (from the first tick on) when the first tick arrived. */
  private startedAtMono = now()
  private timer: NodeJS.Timeout | undefined
  /** A tick read in time is being checked and written to disk: the lease is not late while it is. */
  private tickInFlight = false
  private ended = false

  constructor(init: MeteredLeaseInit) {
    this.init = init
    this.info = init.info
    this.renter = init.renter
    this.models = init.models
    this.commitmentMaxTicks = init.commitmentMaxTicks
  }

  /** Is the lease paid for right now (jobs are admitted)? */
  paidUp(): boolean {
    return !this.ended && isPaidUp(this.startedAtMono, this.paidUntilMs, now())
  }

  /** Tell the renter the lease started, then meter it until it ends. */
  async run(): Promise<void> {
    this.armLateTimer()
    await this.send({ kind: ProviderMessage.Kind.STARTED, status: LeaseStatus.OK })
    log('lease %s started for %p', this.info.leaseId, this.renter)
    await this.serve()
  }

  /** End the lease (once): release it, tell the renter why, close the stream. */
  async end(reason: EndReason, detail = ''): Promise<void> {
    if (this.ended) return
    this.ended = true
    clearTimeout(this.timer)
    const { receiver, messages } = this.init
    receiver.endLease(this.info.leaseId)
    this.info.state = 'ended'
    this.info.endedAt = Date.now()
    this.info.endReason = endReasonName(reason)
    this.init.onEnd(this)
    log('lease %s ended %s %s', this.info.leaseId, String(reason), detail)
    try {
      await messages.write(
        providerMessage({
          kind: ProviderMessage.Kind.ENDED,
          status: LeaseStatus.NOT_ACTIVE,
          reason: detail,
          ticksPaid: this.info.ticksPaid,
          paidUntilMs: BigInt(this.paidUntilMs),
          endReason: reason,
        }),
        ProviderMessage,
        { signal: AbortSignal.timeout(2_000) },
      )
      // A renter that does not close its side in turn is reset, so an ended lease holds no stream.
      await messages.end({ signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      messages.abort(err as Error)
    }
    this.init.onEnded?.(this.info)
  }

  /** Read the renter's messages until the lease ends. */
  private async serve(): Promise<void> {
    while (!this.ended) {
      let message: RenterMessage
      try {
        message = await this.init.messages.read(RenterMessage)
      } catch (err) {
        // A frame over the limit or one that does not decode is the renter breaking the protocol; a stream that
        // broke (or ended) without END is the renter gone.
        const reason = err instanceof MalformedMessageError ? EndReason.PROTOCOL_ERROR : EndReason.RENTER_GONE
        if (!this.ended) await this.end(reason, (err as Error).message)
        return
      }
      try {
        if (!(await this.onMessage(message))) return
      } catch (err) {
        await this.end(EndReason.PAYMENT_INVALID, (err as Error).message)
        return
      }
    }
  }

  /** Handle one renter message; false once the lease has ended. */
  private async onMessage(message: RenterMessage): Promise<boolean> {
    const { info } = this
    const { receiver, terms, amountPerTick } = this.init
    switch (message.kind) {
      case RenterMessage.Kind.TICK: {
        const tick = decodeTick(message.tick)
        if (tick.leaseId.toLowerCase() !== info.leaseId) throw new RangeError('Tick for another lease')
        // A voucher settles a lease for a fraction of a tick proof's gas: a renter that stops sending them is
        // treated as one that stops paying.
        if (isVoucherOverdue(this.ticksSinceVoucher, terms.voucherEveryTicks)) {
          const detail = `No voucher for ${this.ticksSinceVoucher} ticks (one is due every ${terms.voucherEveryTicks})`
          await this.end(EndReason.PAYMENT_LATE, detail)
          return false
        }
        this.tickInFlight = true
        let accepted: Awaited<ReturnType<typeof receiver.acceptTick>>
        try {
          accepted = await receiver.acceptTick(info.leaseId, tick.preimage, { index: tick.index })
        } finally {
          this.tickInFlight = false
        }
        this.ticksSinceVoucher++
        this.commitmentTicks = accepted.ticks
        // The paid clock starts when the first tick arrives: serving begins once it is paid for.
        if (info.ticksPaid === 0) this.startedAtMono = now()
        info.ticksPaid++
        info.amountPaid += amountPerTick
        this.paidUntilMs = paidUntilMs(info.ticksPaid, terms.tickIntervalMs)
        this.armLateTimer()
        await this.acknowledge(ProviderMessage.Kind.TICK_ACK, accepted.total)
        return true
      }
      case RenterMessage.Kind.VOUCHER: {
        const voucher = decodeVoucher(message.voucher)
        const accepted = await receiver.acceptVoucher(voucher, { channelId: info.channelId })
        // On schedule if it covers what was accepted, but for ticks still in flight.
        const { ticksSinceVoucher } = this
        this.ticksSinceVoucher = ticksSinceVoucherAfter(ticksSinceVoucher, accepted.total, voucher.total, amountPerTick)
        await this.acknowledge(ProviderMessage.Kind.VOUCHER_ACK, accepted.total)
        return true
      }
      case RenterMessage.Kind.RENEW: {
        // A new hash chain under the same lease id, starting at the channel's current total.
        const commitment = decodeSignedTickCommitment(message.commitment)
        const maxTicks = ticksIn(terms.maxLeaseSeconds, terms.tickIntervalMs)
        if (commitment.commitment.maxTicks > maxTicks)
          throw new RangeError(`Commitment covers more than ${maxTicks} ticks`)
        await receiver.acceptCommitment(commitment, {
          channelId: info.channelId,
          leaseId: info.leaseId,
          amountPerTick,
        })
        this.commitmentTicks = 0
        this.commitmentMaxTicks = commitment.commitment.maxTicks
        await this.send({ kind: ProviderMessage.Kind.RENEWED, status: LeaseStatus.OK })
        return true
      }
      case RenterMessage.Kind.END: {
        if (message.voucher.length > 0) {
          await receiver
            .acceptVoucher(decodeVoucher(message.voucher), { channelId: info.channelId })
            .catch((err: Error) => {
              log('final voucher of %s refused - %s', info.leaseId, err.message)
            })
        }
        await this.end(EndReason.RENTER_ENDED)
        return false
      }
      default:
        await this.end(EndReason.PROTOCOL_ERROR, `Unexpected message ${String(message.kind)}`)
        return false
    }
  }

  /** Serving stops at the paid boundary; past it plus the grace, the lease ends. */
  private armLateTimer(): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(
      () => {
        // The renter paid in time and the payment store is slow (an fsync stall under load): not the renter's
        // fault. The lease is not served meanwhile (paidUp() is past its boundary); the tick's acceptance re-arms
        // this timer, or ends the lease if the tick is refused.
        if (this.tickInFlight) return
        // Timers run before I/O: after a stall of this process's own loop, a tick that arrived in time may still
        // wait unread in the socket. Decide after this turn's I/O (setImmediate runs right after it).
        setImmediate(() => {
          if (this.ended || this.tickInFlight) return
          // Not yet (a timer may fire a fraction of a ms early): wait again.
          if (msUntilLate(this.startedAtMono, this.paidUntilMs, this.init.terms.graceMs, now()) > 0) {
            this.armLateTimer()
            return
          }
          const reason = this.commitmentTicks >= this.commitmentMaxTicks ? EndReason.EXPIRED : EndReason.PAYMENT_LATE
          this.end(reason).catch((err: Error) => log.error('ending lease failed - %e', err))
        })
      },
      msUntilLate(this.startedAtMono, this.paidUntilMs, this.init.terms.graceMs, now()),
    )
    this.timer.unref()
  }

  /** Acknowledge a tick or voucher with the channel total accepted. */
  private async acknowledge(kind: ProviderMessage.Kind, total: bigint): Promise<void> {
    await this.send({ kind, status: LeaseStatus.OK, total: amountToBytes(total) })
  }

  private async send(message: Partial<ProviderMessage>): Promise<void> {
    const full = providerMessage({
      ticksPaid: this.info.ticksPaid,
      paidUntilMs: BigInt(this.paidUntilMs),
      ...message,
    })
    // A deadline only for a stream that backs up (an AbortSignal.timeout per ack was a timer, an event and a
    // DOMException per tick): writes are serialised, so the wait for the turn is bounded by the earlier writes'.
    await this.init.messages.write(full, ProviderMessage, { timeoutMs: SEND_TIMEOUT_MS })
  }
}
