import { InvalidInputError } from '../errors.js'

/**
 * When the daemon sells, besides the owner's pause: every rule set must allow it. Read from `config.json`
 * (`policy`) and `parkbench start` flags; docs/console.md ("Resource policy") has the details.
 */
export interface ResourcePolicyConfig {
  /**
   * Sell only while the rest of the machine is idle enough: the 1-minute load average, less the workers busy with
   * leased jobs, per core, must stay at or below this (e.g. 0.5). Undefined: no load rule.
   */
  maxLoadPerCore?: number | undefined
  /** Sell only on mains power, where the OS tells (Linux: /sys/class/power_supply). */
  acPowerOnly?: boolean | undefined
  /** Local-time windows to sell in, every day, `HH:MM-HH:MM` (one may cross midnight). Undefined: all day. */
  schedule?: Array<{ from: number; to: number }> | undefined
  /** At most this many hours a day with at least one lease running (local day). Undefined: no cap. */
  maxSoldHoursPerDay?: number | undefined
  /** How often the rules are checked, ms. Default 5000. */
  checkIntervalMs: number
  /** Where the power supplies are (a test points it at a temp dir). Default /sys/class/power_supply. */
  powerSupplyDir: string
}

/** What the policy config may say in config.json: the same fields, schedule as `"HH:MM-HH:MM"` strings. */
export interface ResourcePolicyInput {
  maxLoadPerCore?: number
  acPowerOnly?: boolean
  schedule?: string[]
  maxSoldHoursPerDay?: number
  checkIntervalMs?: number
  powerSupplyDir?: string
}

/** The readings one check weighs. `undefined` is "this platform cannot tell": that rule then allows selling. */
export interface PolicyReadings {
  now: Date
  /** Load per core not caused by this daemon's own jobs. */
  loadPerCore: number | undefined
  /** true on mains, false on battery, undefined unknown (no power supply information: a desktop, a VM). */
  onAcPower: boolean | undefined
  /** Time today with at least one lease running, ms. */
  soldTodayMs: number
}

export interface PolicyVerdict {
  allowed: boolean
  /** Why not, one phrase per rule that says no (shown to the owner and sent to renters as the end detail). */
  reasons: string[]
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/

function minutesOf(text: string, field: string): number {
  const match = TIME.exec(text)
  if (match == null) throw new InvalidInputError(`${field}: "${text}" is not a time HH:MM (00:00 to 23:59)`)
  return Number(match[1]) * 60 + Number(match[2])
}

/** `"09:00-17:30"` as minutes since midnight; `to` before `from` crosses midnight. */
export function parseWindow(text: string, field = 'policy.schedule'): { from: number; to: number } {
  const [from, to, ...rest] = text.split('-')
  if (from === undefined || to === undefined || rest.length > 0) {
    throw new InvalidInputError(`${field}: "${text}" is not a window HH:MM-HH:MM`)
  }
  const window = { from: minutesOf(from.trim(), field), to: minutesOf(to.trim(), field) }
  if (window.from === window.to) throw new InvalidInputError(`${field}: "${text}" is an empty window`)
  return window
}

/** Validate the policy from config.json and flags; undefined when no rule is set. */
export function resolvePolicy(input: ResourcePolicyInput | undefined): ResourcePolicyConfig | undefined {
  if (input == null) return undefined
  const { maxLoadPerCore, maxSoldHoursPerDay, checkIntervalMs } = input
  if (maxLoadPerCore != null && !(Number.isFinite(maxLoadPerCore) && maxLoadPerCore > 0)) {
    throw new InvalidInputError('policy.maxLoadPerCore must be a positive number')
  }
  if (maxSoldHoursPerDay != null && !(Number.isFinite(maxSoldHoursPerDay) && maxSoldHoursPerDay >= 0)) {
    throw new InvalidInputError('policy.maxSoldHoursPerDay must be a number of hours, 0 or more')
  }
  if (maxSoldHoursPerDay != null && maxSoldHoursPerDay > 24) {
    throw new InvalidInputError('policy.maxSoldHoursPerDay is at most 24')
  }
  if (checkIntervalMs != null && !(Number.isSafeInteger(checkIntervalMs) && checkIntervalMs >= 50)) {
    throw new InvalidInputError('policy.checkIntervalMs must be a whole number of ms, 50 or more')
  }
  if (input.schedule != null && (!Array.isArray(input.schedule) || input.schedule.length === 0)) {
    throw new InvalidInputError('policy.schedule must be a non-empty list of "HH:MM-HH:MM" windows')
  }
  const config: ResourcePolicyConfig = {
    maxLoadPerCore,
    acPowerOnly: input.acPowerOnly === true ? true : undefined,
    schedule: input.schedule?.map((w, i) => parseWindow(String(w), `policy.schedule[${i}]`)),
    maxSoldHoursPerDay,
    checkIntervalMs: checkIntervalMs ?? 5_000,
    powerSupplyDir: input.powerSupplyDir ?? '/sys/class/power_supply',
  }
  const any =
    config.maxLoadPerCore != null ||
    config.acPowerOnly === true ||
    config.schedule != null ||
    config.maxSoldHoursPerDay != null
  return any ? config : undefined
}

const hhmm = (minutes: number): string =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`

/** Is `now` (local time) inside one of the windows? */
export function inSchedule(schedule: Array<{ from: number; to: number }>, now: Date): boolean {
  const minute = now.getHours() * 60 + now.getMinutes()
  return schedule.some(({ from, to }) => (from < to ? minute >= from && minute < to : minute >= from || minute < to))
}

/** Weigh one set of readings against the rules: a pure function, so each rule is tested on its own. */
export function evaluatePolicy(config: ResourcePolicyConfig, readings: PolicyReadings): PolicyVerdict {
  const reasons: string[] = []
  if (config.acPowerOnly === true && readings.onAcPower === false) reasons.push('on battery power')
  if (
    config.maxLoadPerCore != null &&
    readings.loadPerCore !== undefined &&
    readings.loadPerCore > config.maxLoadPerCore
  ) {
    reasons.push(`system load ${readings.loadPerCore.toFixed(2)} per core is over ${config.maxLoadPerCore}`)
  }
  if (config.schedule != null && !inSchedule(config.schedule, readings.now)) {
    reasons.push(`outside the selling hours ${config.schedule.map((w) => `${hhmm(w.from)}-${hhmm(w.to)}`).join(', ')}`)
  }
  if (config.maxSoldHoursPerDay != null && readings.soldTodayMs >= config.maxSoldHoursPerDay * 3_600_000) {
    reasons.push(`sold ${config.maxSoldHoursPerDay} h today, the daily cap`)
  }
  return { allowed: reasons.length === 0, reasons }
}

/** The config as the console shows it (windows back as text). */
export function describePolicy(config: ResourcePolicyConfig): Record<string, unknown> {
  return {
    maxLoadPerCore: config.maxLoadPerCore ?? null,
    acPowerOnly: config.acPowerOnly === true,
    schedule: config.schedule?.map((w) => `${hhmm(w.from)}-${hhmm(w.to)}`) ?? null,
    maxSoldHoursPerDay: config.maxSoldHoursPerDay ?? null,
    checkIntervalMs: config.checkIntervalMs,
  }
}
