import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { VOUCHER_SLACK_TICKS } from '../../src/lease/constants.js'
import {
  amountPerTick,
  costOfTicks,
  isPaidUp,
  isVoucherOverdue,
  isWholeAmountPerTick,
  msUntilLate,
  msUntilNextTick,
  paidUntilMs,
  TICK_LEAD_MS,
  tickLeadMs,
  ticksIn,
  ticksSinceVoucherAfter,
} from '../../src/lease/metering.js'

describe('lease metering arithmetic', () => {
  it('prices a tick from the price per second and the interval, and refuses fractions of a base unit', () => {
    assert.equal(amountPerTick(1_000n, 1_000), 1_000n)
    assert.equal(amountPerTick(1_000n, 200), 200n)
    assert.equal(amountPerTick(10n ** 9n, 1_000), 10n ** 9n)
    assert.ok(isWholeAmountPerTick(1_000n, 200))
    assert.ok(isWholeAmountPerTick(5n, 1_000))
    assert.ok(!isWholeAmountPerTick(5n, 100)) // half a unit per tick
    assert.ok(!isWholeAmountPerTick(1n, 999))
  })

  it('counts whole ticks in seconds, and what they cost', () => {
    assert.equal(ticksIn(60, 1_000), 60)
    assert.equal(ticksIn(30, 200), 150)
    assert.equal(ticksIn(1, 300), 3) // 1000 / 300, rounded down
    assert.equal(ticksIn(3_600, 1_000), 3_600)
    assert.equal(costOfTicks(150, 200n), 30_000n)
    assert.equal(costOfTicks(0, 200n), 0n)
  })

  it('is paid up strictly inside the paid time, from the first tick on', () => {
    const start = 5_000
    assert.equal(paidUntilMs(3, 1_000), 3_000)
    assert.ok(!isPaidUp(start, paidUntilMs(0, 1_000), start)) // no tick yet
    assert.ok(isPaidUp(start, paidUntilMs(1, 1_000), start))
    assert.ok(isPaidUp(start, paidUntilMs(1, 1_000), start + 999.9))
    assert.ok(!isPaidUp(start, paidUntilMs(1, 1_000), start + 1_000)) // the boundary itself is unpaid
    assert.ok(isPaidUp(start, paidUntilMs(2, 1_000), start + 1_000))
  })

  it('is late at the paid boundary plus the grace, never in the past', () => {
    const start = 1_000
    assert.equal(msUntilLate(start, paidUntilMs(2, 1_000), 500, start), 2_500)
    assert.equal(msUntilLate(start, paidUntilMs(2, 1_000), 500, start + 2_400), 100)
    assert.equal(msUntilLate(start, paidUntilMs(2, 1_000), 500, start + 9_000), 0)
    assert.equal(msUntilLate(start, 0, 500, start), 500) // STARTED sent, first tick awaited
  })

  it('sends the next tick a lead before the paid boundary: 100 ms, or a fifth of a short interval', () => {
    assert.equal(TICK_LEAD_MS, 100)
    assert.equal(tickLeadMs(1_000), 100)
    assert.equal(tickLeadMs(200), 40)
    assert.equal(tickLeadMs(100), 20)
    const start = 10_000
    assert.equal(msUntilNextTick(start, 1, 1_000, start), 900)
    assert.equal(msUntilNextTick(start, 3, 200, start + 100), 600 - 40 - 100)
    assert.equal(msUntilNextTick(start, 1, 1_000, start + 5_000), 0)
  })

  it('ends a lease whose voucher is the slack later than its cadence', () => {
    assert.equal(VOUCHER_SLACK_TICKS, 2)
    assert.ok(!isVoucherOverdue(0, 60))
    assert.ok(!isVoucherOverdue(61, 60))
    assert.ok(isVoucherOverdue(62, 60))
    assert.ok(isVoucherOverdue(5, 3))
    assert.ok(!isVoucherOverdue(4, 3))
  })

  it('puts the voucher count back on schedule only for a voucher that covers all but the tick in flight', () => {
    const perTick = 200n
    assert.equal(ticksSinceVoucherAfter(60, 12_000n, 12_000n, perTick), 0) // covers everything
    assert.equal(ticksSinceVoucherAfter(60, 12_200n, 12_000n, perTick), 1) // one tick in flight
    assert.equal(ticksSinceVoucherAfter(60, 12_400n, 12_000n, perTick), 60) // two behind: no change
    assert.equal(ticksSinceVoucherAfter(7, 12_000n, 12_400n, perTick), 0) // ahead of the ticks
  })

  it('agrees with itself: the ticks of a commitment cost what the price says, and one more tick is never free', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc.constantFrom(100, 200, 250, 500, 1_000, 2_000, 60_000),
        fc.integer({ min: 1, max: 3_600 }),
        (price, interval, seconds) => {
          fc.pre(isWholeAmountPerTick(price, interval))
          const ticks = ticksIn(seconds, interval)
          const perTick = amountPerTick(price, interval)
          // Whole ticks never cost more than the seconds they fit in, and the price is exact per tick.
          assert.ok(costOfTicks(ticks, perTick) <= price * BigInt(seconds))
          assert.equal(perTick * 1000n, price * BigInt(interval))
          assert.ok(paidUntilMs(ticks, interval) <= seconds * 1000)
          assert.ok(paidUntilMs(ticks + 1, interval) > seconds * 1000)
        },
      ),
    )
  })

  it('sends each tick before the lease it extends runs out, and the provider waits a grace past that', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(100, 200, 500, 1_000, 5_000),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 2_000 }),
        (interval, ticksSent, graceMs) => {
          const start = 1_000
          const sendAt = start + msUntilNextTick(start, ticksSent, interval, start)
          const paidUntil = paidUntilMs(ticksSent, interval)
          assert.ok(isPaidUp(start, paidUntil, sendAt), 'the next tick goes out while the lease is still paid')
          assert.ok(sendAt + msUntilLate(start, paidUntil, graceMs, sendAt) >= start + paidUntil)
        },
      ),
    )
  })
})
