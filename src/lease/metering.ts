import { VOUCHER_SLACK_TICKS } from './constants.js'

/*
 * The arithmetic of per-second metering, shared by the provider and the renter so that both sides count a lease the
 * same way. Pure functions: amounts in base units (bigint), times in ms. `startedAtMs` and `now` are readings of one
 * monotonic clock (performance.now()): a lease's paid time counts from its first tick.
 */

/** Does `pricePerSecond` come to a whole number of base units per tick? A provider refuses a price that does not. */
export function isWholeAmountPerTick(pricePerSecond: bigint, tickIntervalMs: number): boolean {
  return (pricePerSecond * BigInt(tickIntervalMs)) % 1000n === 0n
}

/** What one tick of `tickIntervalMs` costs at `pricePerSecond`. */
export function amountPerTick(pricePerSecond: bigint, tickIntervalMs: number): bigint {
  return (pricePerSecond * BigInt(tickIntervalMs)) / 1000n
}

/** The whole ticks in `seconds`: how many one commitment covers. */
export function ticksIn(seconds: number, tickIntervalMs: number): number {
  return Math.floor((seconds * 1000) / tickIntervalMs)
}

/** What `ticks` ticks cost. */
export function costOfTicks(ticks: number, amountPerTick: bigint): bigint {
  return amountPerTick * BigInt(ticks)
}

/** How long after the lease's start `ticks` ticks pay for, in ms. */
export function paidUntilMs(ticks: number, tickIntervalMs: number): number {
  return ticks * tickIntervalMs
}

/** Is a lease that started at `startedAtMs` and is paid until `paidUntil` (ms after its start) paid for at `now`? */
export function isPaidUp(startedAtMs: number, paidUntil: number, now: number): boolean {
  return now - startedAtMs < paidUntil
}

/**
 * How long from `now` until the lease is late, in ms (0 if it is): serving stops at the paid boundary, and past it
 * plus the grace the provider ends the lease.
 */
export function msUntilLate(startedAtMs: number, paidUntil: number, graceMs: number, now: number): number {
  return Math.max(0, startedAtMs + paidUntil + graceMs - now)
}

/** How far ahead of the provider's paid boundary the renter sends the next tick, at most. */
export const TICK_LEAD_MS = 100

/** The renter's lead for a tick interval: {@link TICK_LEAD_MS}, or a fifth of a short interval. */
export function tickLeadMs(tickIntervalMs: number): number {
  return Math.min(TICK_LEAD_MS, tickIntervalMs / 5)
}

/**
 * How long from `now` until the renter sends tick `ticksSent + 1`, in ms (0 if it is due): a little before the
 * ticks already sent run out on the provider's clock, so that a job sent at the boundary never finds the lease
 * unpaid.
 */
export function msUntilNextTick(startedAtMs: number, ticksSent: number, tickIntervalMs: number, now: number): number {
  return Math.max(0, startedAtMs + paidUntilMs(ticksSent, tickIntervalMs) - tickLeadMs(tickIntervalMs) - now)
}

/**
 * Has the renter gone too long without a voucher? One is due every `voucherEveryTicks` ticks; a lease whose voucher
 * is {@link VOUCHER_SLACK_TICKS} later than that (it crosses ticks in flight) ends PAYMENT_LATE.
 */
export function isVoucherOverdue(ticksSinceVoucher: number, voucherEveryTicks: number): boolean {
  return ticksSinceVoucher >= voucherEveryTicks + VOUCHER_SLACK_TICKS
}

/**
 * The ticks since the last voucher once a voucher for `voucherTotal` is in, when the provider has accepted
 * `acceptedTotal` on the channel: a voucher that covers all but the tick in flight puts the lease back on schedule
 * (counting that tick); one further behind changes nothing.
 */
export function ticksSinceVoucherAfter(
  ticksSinceVoucher: number,
  acceptedTotal: bigint,
  voucherTotal: bigint,
  amountPerTick: bigint,
): number {
  const uncovered = (acceptedTotal - voucherTotal) / amountPerTick
  return uncovered <= 1n ? Math.max(0, Number(uncovered)) : ticksSinceVoucher
}
