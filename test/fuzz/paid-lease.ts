import type { Hex } from 'viem'
import { ProviderMessage, RenterMessage } from '../../src/lease/pb/lease.js'
import { amountFromBytes, type ReadmeRenter, renterMessage, type StartedLease } from './readme-renter.js'
import { frame } from './wire.js'

/** Ticks go out this much before the paid time runs out (README: "The renter pays one tick ahead"). */
const TICK_LEAD_MS = 250

/** A voucher at least this often; the quote allows up to `voucher_every_ticks` (60 by default). */
const VOUCHER_EVERY_TICKS = 20

/**
 * A lease the fuzz client keeps paid in the background (ticks one ahead, vouchers, as README "Leases" step 4 says), so
 * that its infer and model cases are admitted. `active` turns false as soon as the provider ends it or the stream
 * breaks: a case run while it was not active proves nothing about admission.
 */
export class PaidLease {
  readonly lease: StartedLease
  private readonly renter: ReadmeRenter
  private readonly startedAt = performance.now()
  private timer: NodeJS.Timeout | undefined
  private ended = false
  private acked = 0
  /** How the lease ended, when it has. */
  endedWith: string | undefined
  /** The channel total the provider acknowledged last. */
  total = 0n

  constructor(renter: ReadmeRenter, lease: StartedLease) {
    this.renter = renter
    this.lease = lease
    this.total = lease.baseAmount
    void this.readLoop()
    this.payNext()
  }

  get leaseId(): Hex {
    return this.lease.leaseId
  }

  get channelId(): Hex {
    return this.lease.channelId
  }

  /** Still running, paid up, with more than `marginTicks` of its commitment left. */
  active(marginTicks = 5): boolean {
    return !this.ended && this.acked >= 1 && this.lease.ticksSent + marginTicks < this.lease.maxTicks
  }

  /** Wait (bounded) until the first tick is acknowledged: only then are jobs admitted. */
  async paidUp(timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && !this.ended && this.acked < 1) await new Promise((r) => setTimeout(r, 10))
    return this.acked >= 1 && !this.ended
  }

  private payNext(): void {
    if (this.ended) return
    const next = this.lease.ticksSent + 1
    if (next > this.lease.maxTicks) return
    const interval = this.lease.quote.tickIntervalMs
    const due = this.startedAt + (next - 1) * interval - TICK_LEAD_MS
    this.timer = setTimeout(
      () => {
        void this.sendTick(next).finally(() => this.payNext())
      },
      Math.max(0, due - performance.now()),
    )
  }

  private async sendTick(index: number): Promise<void> {
    if (this.ended) return
    const deadline = Date.now() + 2_000
    const sent = await this.lease.raw.send(this.renter.tickFrame(this.lease, index), deadline)
    this.renter.noteTick(this.lease, index)
    if (sent && index % VOUCHER_EVERY_TICKS === 0) {
      // Cumulative: it may trail by the tick in flight.
      const total = this.lease.baseAmount + BigInt(index - 1) * this.lease.quote.amountPerTick
      const voucher = await this.renter.voucher(this.lease.channelId, total)
      await this.lease.raw.send(
        frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.VOUCHER, { voucher }))),
        deadline,
      )
    }
    if (!sent) this.finish('stream broke')
  }

  private async readLoop(): Promise<void> {
    while (!this.ended) {
      const read = await this.lease.raw.readFrame(Date.now() + 3_600_000)
      if (!('frame' in read)) {
        this.finish('end' in read ? read.end : 'timeout')
        return
      }
      let message: ProviderMessage
      try {
        message = ProviderMessage.decode(read.frame)
      } catch {
        this.finish('undecodable provider frame')
        return
      }
      if (message.kind === 'TICK_ACK') {
        this.acked = Math.max(this.acked, message.ticksPaid)
        this.total = amountFromBytes(message.total)
      } else if (message.kind === 'ENDED') {
        this.finish(`ENDED:${message.endReason}`)
        return
      }
    }
  }

  private finish(how: string): void {
    if (this.ended) return
    this.ended = true
    this.endedWith = how
    clearTimeout(this.timer)
  }

  /** END with a final voucher, and wait (bounded) for ENDED. */
  async end(): Promise<void> {
    if (this.ended) {
      this.lease.raw.abort()
      return
    }
    clearTimeout(this.timer)
    const deadline = Date.now() + 5_000
    const total = this.lease.baseAmount + BigInt(this.lease.ticksSent) * this.lease.quote.amountPerTick
    const voucher = await this.renter.voucher(this.lease.channelId, total)
    await this.lease.raw.send(frame(RenterMessage.encode(renterMessage(RenterMessage.Kind.END, { voucher }))), deadline)
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    this.finish('ended by us')
    this.lease.raw.abort()
  }
}
