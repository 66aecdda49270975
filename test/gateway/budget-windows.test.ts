import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addSpend, checkBudget, currentSpend, emptySpend, headroom } from '../../src/gateway/budget.js'
import { BudgetExceededError } from '../../src/gateway/errors.js'

const HOUR = 3_600_000
const t0 = Date.UTC(2026, 11, 1, 10, 59, 59, 0)

describe('budget windows and the admission rule', () => {
  it('hour and day windows restart on the hour and at 00:00 UTC; the total never does', () => {
    let s = addSpend(emptySpend(t0), 700n, t0)
    s = addSpend(s, 300n, t0 + 500)
    assert.equal(s.hour, 1000n)
    const nextHour = currentSpend(s, t0 + 1_000)
    assert.equal(nextHour.hour, 0n)
    assert.equal(nextHour.day, 1000n)
    assert.equal(nextHour.total, 1000n)
    const nextDay = currentSpend(s, Date.UTC(2026, 11, 2, 0, 0, 0, 1))
    assert.equal(nextDay.day, 0n)
    assert.equal(nextDay.total, 1000n)
  })

  it('admits a request only if spent + reserved + its reservation fits under every cap, naming the first it would pass', () => {
    const caps = { maxPricePerSecond: 100n, maxPerHour: 1000n, maxTotal: 5000n }
    const spend = addSpend(emptySpend(t0), 800n, t0)
    checkBudget(caps, spend, 100n, 100n, t0) // 800 + 100 + 100 = 1000: fits exactly
    assert.throws(
      () => checkBudget(caps, spend, 200n, 100n, t0),
      (err: unknown) =>
        err instanceof BudgetExceededError &&
        err.cap === 'per-hour' &&
        err.resetsAt === Date.UTC(2026, 11, 1, 11) &&
        err.status === 402,
    )
    // An hour later the hourly cap has room again; the total still counts.
    checkBudget(caps, spend, 200n, 100n, t0 + HOUR)
    assert.equal(headroom(caps, spend, 0n, t0 + HOUR), 1000n)
    assert.equal(headroom({ maxPricePerSecond: 1n }, spend, 0n, t0), undefined, 'no cap, no limit')
  })
})
