import { type BudgetCap, BudgetExceededError } from './errors.js'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

/** What an owner allows one key, in wei (token base units). A cap left out is no cap. */
export interface KeyCaps {
  /** The most a lease may cost per second for this key's requests: the price ceiling passed to the client. */
  maxPricePerSecond: bigint
  maxPerHour?: bigint
  maxPerDay?: bigint
  maxTotal?: bigint
}

/** A key's spend: in total, and in the current UTC hour and day (fixed windows, restarting on the hour and at 00:00). */
export interface KeySpend {
  total: bigint
  hourStart: number
  hour: bigint
  dayStart: number
  day: bigint
}

export function emptySpend(now = Date.now()): KeySpend {
  return { total: 0n, hourStart: windowStart(now, HOUR_MS), hour: 0n, dayStart: windowStart(now, DAY_MS), day: 0n }
}

function windowStart(now: number, length: number): number {
  return Math.floor(now / length) * length
}

/** The spend with its windows rolled to `now` (a window that has ended counts from zero). */
export function currentSpend(spend: KeySpend, now = Date.now()): KeySpend {
  const hourStart = windowStart(now, HOUR_MS)
  const dayStart = windowStart(now, DAY_MS)
  return {
    total: spend.total,
    hourStart,
    hour: spend.hourStart === hourStart ? spend.hour : 0n,
    dayStart,
    day: spend.dayStart === dayStart ? spend.day : 0n,
  }
}

/** `spend` plus `amount` paid at `now`. */
export function addSpend(spend: KeySpend, amount: bigint, now = Date.now()): KeySpend {
  const rolled = currentSpend(spend, now)
  return { ...rolled, total: rolled.total + amount, hour: rolled.hour + amount, day: rolled.day + amount }
}

/** Each cap with what counts against it and when it resets. */
export function capWindows(
  caps: KeyCaps,
  spend: KeySpend,
  now = Date.now(),
): Array<{ cap: BudgetCap; limit: bigint; spent: bigint; resetsAt?: number }> {
  const s = currentSpend(spend, now)
  const out: Array<{ cap: BudgetCap; limit: bigint; spent: bigint; resetsAt?: number }> = []
  if (caps.maxPerHour != null)
    out.push({ cap: 'per-hour', limit: caps.maxPerHour, spent: s.hour, resetsAt: s.hourStart + HOUR_MS })
  if (caps.maxPerDay != null)
    out.push({ cap: 'per-day', limit: caps.maxPerDay, spent: s.day, resetsAt: s.dayStart + DAY_MS })
  if (caps.maxTotal != null) out.push({ cap: 'total', limit: caps.maxTotal, spent: s.total })
  return out
}

/**
 * The admission rule: a request may start only if, under every cap, what the key has spent plus what its requests
 * in flight have reserved plus this request's reservation stays within the cap. Throws {@link BudgetExceededError}
 * naming the first cap that would be passed.
 */
export function checkBudget(caps: KeyCaps, spend: KeySpend, reserved: bigint, reservation: bigint, now = Date.now()) {
  for (const w of capWindows(caps, spend, now)) {
    if (w.spent + reserved + reservation > w.limit) {
      throw new BudgetExceededError({
        cap: w.cap,
        limit: w.limit,
        spent: w.spent,
        reserved,
        ...(w.resetsAt != null ? { resetsAt: w.resetsAt } : {}),
      })
    }
  }
}

/** How much more the key may spend now under its tightest cap (undefined: no cap). */
export function headroom(caps: KeyCaps, spend: KeySpend, reserved: bigint, now = Date.now()): bigint | undefined {
  let least: bigint | undefined
  for (const w of capWindows(caps, spend, now)) {
    const left = w.limit - w.spent - reserved
    if (least == null || left < least) least = left
  }
  return least
}
