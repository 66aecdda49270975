import { readFile, rename, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { logger } from '@libp2p/logger'
import {
  describePolicy,
  evaluatePolicy,
  type PolicyReadings,
  type PolicyVerdict,
  type ResourcePolicyConfig,
} from './policy-rules.js'
import { readAcPower } from './power-supply.js'
import type { PausedBy } from './selling.js'

const log = logger('parkbench:daemon:policy')

/**
 * What the policy reads from the machine. Linux's are built in; another OS plugs its own in (macOS: `pmset -g batt`
 * or IOKit's IOPSCopyPowerSourcesInfo for power, `sysctl vm.loadavg` for load; Windows: GetSystemPowerStatus's
 * ACLineStatus for power and the `\Processor(_Total)\% Processor Time` counter for load), and a test simulates them.
 */
export interface PolicySensors {
  /** Load per core not caused by this daemon's own busy workers; undefined when the OS cannot tell. */
  loadPerCore(busyWorkers: number): number | undefined
  /** true on mains, false on battery, undefined when the OS cannot tell. */
  onAcPower(): Promise<boolean | undefined>
  now(): Date
}

/** Linux (and any OS with a meaningful load average and, optionally, sysfs power supplies). */
export function defaultPolicySensors(powerSupplyDir: string): PolicySensors {
  return {
    // Windows reports a load average of zeros: it cannot tell.
    loadPerCore: (busy) =>
      process.platform === 'win32' ? undefined : Math.max(0, loadavg()[0]! - busy) / availableParallelism(),
    onAcPower: async () => (process.platform === 'linux' ? readAcPower(powerSupplyDir) : undefined),
    now: () => new Date(),
  }
}

export interface ResourcePolicyComponents {
  selling: {
    readonly paused: { by: PausedBy } | undefined
    pause(options: { by: PausedBy; detail: string }): Promise<void>
    resume(): Promise<void>
  }
  activeLeases(): number
  busyWorkers(): number
  sensors: PolicySensors
  /** Where the time sold today is kept, so a restart does not reset the daily cap. */
  stateFile: string
}

const localDay = (d: Date): string =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`

/**
 * Checks the resource policy every few seconds and stops selling when it says no, through the same pause the owner
 * uses (offer withdrawn, leases ended PROVIDER_POLICY, paid to the last served second); sells again once every rule
 * allows it. A pause by the owner is never lifted by the policy.
 */
export class ResourcePolicy {
  private readonly components: ResourcePolicyComponents
  private readonly config: ResourcePolicyConfig
  private timer: NodeJS.Timeout | undefined
  private checking: Promise<PolicyVerdict> | undefined
  private sold = { day: '', ms: 0 }
  private lastCheckAt: number | undefined
  private leasingAtLastCheck = false
  private last: { verdict: PolicyVerdict; readings: PolicyReadings } | undefined

  constructor(components: ResourcePolicyComponents, config: ResourcePolicyConfig) {
    this.components = components
    this.config = config
  }

  async start(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.components.stateFile, 'utf8')) as { day?: unknown; ms?: unknown }
      if (typeof saved.day === 'string' && typeof saved.ms === 'number') this.sold = { day: saved.day, ms: saved.ms }
    } catch {
      // No state yet (or unreadable): nothing sold today as far as we know.
    }
    await this.check()
    this.timer = setInterval(() => {
      this.check().catch((err: Error) => log.error('policy check failed - %e', err))
    }, this.config.checkIntervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.checking
  }

  /** Read the sensors, weigh the rules, pause or resume selling. One check at a time. */
  async check(): Promise<PolicyVerdict> {
    this.checking ??= this.checkOnce().finally(() => {
      this.checking = undefined
    })
    return this.checking
  }

  /** The rules, the last readings and verdict, and the time sold today: what the console shows. */
  describe(): Record<string, unknown> {
    return {
      rules: describePolicy(this.config),
      allowed: this.last?.verdict.allowed ?? null,
      reasons: this.last?.verdict.reasons ?? [],
      readings: this.last === undefined ? null : { ...this.last.readings, now: this.last.readings.now.toISOString() },
      soldTodayMs: this.sold.ms,
    }
  }

  private async checkOnce(): Promise<PolicyVerdict> {
    const { sensors, selling } = this.components
    const now = sensors.now()
    await this.account(now)
    const readings: PolicyReadings = {
      now,
      loadPerCore: sensors.loadPerCore(this.components.busyWorkers()),
      onAcPower: await sensors.onAcPower(),
      soldTodayMs: this.sold.ms,
    }
    const verdict = evaluatePolicy(this.config, readings)
    this.last = { verdict, readings }
    const paused = selling.paused
    if (!verdict.allowed && paused === undefined) {
      const detail = `Stopped by its resource policy: ${verdict.reasons.join('; ')}`
      log('%s', detail)
      await selling.pause({ by: 'policy', detail })
    } else if (verdict.allowed && paused?.by === 'policy') {
      log('the resource policy allows selling again')
      await selling.resume()
    }
    return verdict
  }

  /** Add the time since the last check to today's sold time if a lease ran through it; a new day starts at 0. */
  private async account(now: Date): Promise<void> {
    const day = localDay(now)
    const at = now.getTime()
    const before = { ...this.sold }
    if (this.sold.day !== day) this.sold = { day, ms: 0 }
    const leasing = this.components.activeLeases() > 0
    if (this.lastCheckAt !== undefined && (leasing || this.leasingAtLastCheck)) {
      // Within the day only: a check that straddles midnight counts from midnight.
      const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
      this.sold.ms += Math.max(0, at - Math.max(this.lastCheckAt, midnight))
    }
    this.lastCheckAt = at
    this.leasingAtLastCheck = leasing
    if (this.sold.day !== before.day || this.sold.ms !== before.ms) {
      const tmp = `${this.components.stateFile}.tmp`
      await writeFile(tmp, JSON.stringify(this.sold))
      await rename(tmp, this.components.stateFile)
    }
  }
}

/** Create the resource policy; `start()` checks once at once, then every `checkIntervalMs`. */
export function createResourcePolicy(
  components: ResourcePolicyComponents,
  config: ResourcePolicyConfig,
): ResourcePolicy {
  return new ResourcePolicy(components, config)
}
