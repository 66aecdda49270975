import type { LeaseInfo } from '../lease/metered-lease.js'
import { FIRST_PAID_PHASES, type FirstPaidPhase, type PhaseTimes } from './phases.js'
import type { Distribution } from './report-types.js'

const CDF_POINTS = 200

/** Each phase's samples as a distribution. */
export function phaseDistributions(
  samples: Record<FirstPaidPhase, readonly number[]>,
): Record<FirstPaidPhase, Distribution> {
  return Object.fromEntries(FIRST_PAID_PHASES.map((k) => [k, distribution(samples[k])])) as Record<
    FirstPaidPhase,
    Distribution
  >
}

/** Percentiles and an empirical CDF of samples (nearest-rank percentiles). */
export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  const rank = (q: number): number | null => (n === 0 ? null : round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!))
  const cdf: Array<[number, number]> = []
  const step = Math.max(1, Math.ceil(n / CDF_POINTS))
  for (let i = step - 1; i < n; i += step) cdf.push([round(sorted[i]!), round((i + 1) / n, 4)])
  if (n > 0 && cdf[cdf.length - 1]![1] !== 1) cdf.push([round(sorted[n - 1]!), 1])
  return {
    count: n,
    p50: rank(0.5),
    p95: rank(0.95),
    p99: rank(0.99),
    max: n === 0 ? null : round(sorted[n - 1]!),
    cdf,
  }
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Counts by key. */
export class Counter {
  private readonly counts = new Map<string, number>()
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n)
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]))
  }
}

/**
 * Where members report what happened: the run's {@link SwarmMetrics} in-process, or a pipe to the run's process
 * from a member that runs in a process of its own (multi-process mode).
 */
export interface MetricsSink {
  requestSent(renter: string): void
  /** `wrongFrom`: the provider whose result disagreed with the reference. */
  requestServed(renter: string, latencyMs: number, wrongFrom: string | undefined, phases?: PhaseTimes): void
  requestFailed(renter: string, code: string): void
  /** `sinceStartMs`: for a renter's first lookup that found an offer, the time from its start. */
  lookupDone(renter: string, foundMs: number | undefined, sinceStartMs: number | undefined): void
  leaseStarted(): void
  failover(): void
  leaseEnded(lease: LeaseInfo): void
  attack(outcome: 'refused' | 'answered' | 'free'): void
  failure(code: string): void
}

/** A lease as a sample needs it. */
export type SampledLease = Pick<LeaseInfo, 'startedAt' | 'ticksPaid' | 'pricePerSecond'>

/** A lookup succeeds when it finds a verified offer within this (the goal). */
export const LOOKUP_GOAL_MS = 2_000

/** What a run measures as it goes; the report is made from it at the end. */
export class SwarmMetrics implements MetricsSink {
  readonly timeToFirstOfferMs: number[] = []
  readonly timeToFirstPaidResultMs: number[] = []
  readonly inferLatencyMs: number[] = []
  /** Per phase (see phases.ts), the ms each renter's first paid request spent there. */
  readonly firstPaidPhasesMs = Object.fromEntries(FIRST_PAID_PHASES.map((k) => [k, [] as number[]])) as Record<
    FirstPaidPhase,
    number[]
  >
  readonly failures = new Counter()
  readonly endReasons = new Counter()
  lookups = { attempts: 0, succeeded: 0, within2s: 0 }
  requests = { sent: 0, served: 0, failed: 0 }
  leasesStarted = 0
  failovers = 0
  wrongResultsServed = 0
  freeJobs = 0
  attacks = { sent: 0, refused: 0 }
  peakOnline = 0
  eventLoopP99Ms: number | null = null
  /** Nodes online x seconds, summed over samples. */
  nodeSeconds = 0
  private lastSample: { tMs: number; ticks: number } | undefined
  /** Renters whose first paid result is still to come, by id: when their first request was made. */
  readonly firstRequestAt = new Map<string, number>()
  readonly firstResultSeen = new Set<string>()
  readonly series = {
    tMs: [] as number[],
    nodesOnline: [] as number[],
    activeLeases: [] as number[],
    paymentsPerSecond: [] as number[],
    valueAtRiskProviders: [] as string[],
    valueAtRiskRenters: [] as string[],
    rssBytes: [] as number[],
  }

  constructor(private readonly now: () => number = () => performance.now()) {}

  private readonly endedTicks = { total: 0 }

  requestSent(renter: string): void {
    this.requests.sent++
    if (!this.firstRequestAt.has(renter)) this.firstRequestAt.set(renter, this.now())
  }

  requestServed(renter: string, latencyMs: number, wrongFrom: string | undefined, phases?: PhaseTimes): void {
    this.requests.served++
    this.inferLatencyMs.push(latencyMs)
    if (!this.firstResultSeen.has(renter)) {
      this.firstResultSeen.add(renter)
      this.timeToFirstPaidResultMs.push(this.now() - (this.firstRequestAt.get(renter) ?? this.now() - latencyMs))
      // The phases of the request that brought it (earlier failed requests of the renter count in the total only).
      if (phases !== undefined) for (const k of FIRST_PAID_PHASES) this.firstPaidPhasesMs[k].push(phases[k])
    }
    if (wrongFrom !== undefined) this.wrongResultsServed++
  }

  requestFailed(_renter: string, code: string): void {
    this.requests.failed++
    this.failures.add(code)
  }

  lookupDone(_renter: string, foundMs: number | undefined, sinceStartMs: number | undefined): void {
    this.lookups.attempts++
    if (foundMs === undefined) return
    this.lookups.succeeded++
    if (foundMs <= LOOKUP_GOAL_MS) this.lookups.within2s++
    if (sinceStartMs !== undefined) this.timeToFirstOfferMs.push(sinceStartMs)
  }

  leaseStarted(): void {
    this.leasesStarted++
  }

  failover(): void {
    this.failovers++
  }

  leaseEnded(lease: LeaseInfo): void {
    this.endReasons.add(lease.endReason ?? 'UNKNOWN')
    this.endedTicks.total += lease.ticksPaid
  }

  attack(outcome: 'refused' | 'answered' | 'free'): void {
    this.attacks.sent++
    if (outcome === 'refused') this.attacks.refused++
    if (outcome === 'free') this.freeJobs++
  }

  failure(code: string): void {
    this.failures.add(code)
  }

  /**
   * One point of every series, from the leases running now (as their providers report them) and who is online:
   * leases, payments per second, value at risk, memory.
   */
  sample(
    tMs: number,
    online: number,
    running: SampledLease[],
    rssBytes = process.memoryUsage.rss(),
  ): {
    tMs: number
    online: number
    activeLeases: number
  } {
    const active = running.length
    let ticks = this.endedTicks.total
    let providerRisk = 0n
    let renterRisk = 0n
    const now = Date.now()
    for (const lease of running) {
      ticks += lease.ticksPaid
      // One tick is one second of the lease's price (parkbench's tick interval).
      const served = Math.floor((now - lease.startedAt) / 1000)
      const gap = BigInt(served - lease.ticksPaid) * lease.pricePerSecond
      if (gap > 0n) providerRisk += gap
      else renterRisk -= gap
    }
    const previous = this.lastSample
    const perSecond = previous === undefined ? 0 : Math.max(0, ((ticks - previous.ticks) * 1000) / (tMs - previous.tMs))
    if (previous !== undefined) this.nodeSeconds += (online * (tMs - previous.tMs)) / 1000
    this.lastSample = { tMs, ticks }
    this.peakOnline = Math.max(this.peakOnline, online)
    const s = this.series
    s.tMs.push(Math.round(tMs))
    s.nodesOnline.push(online)
    s.activeLeases.push(active)
    s.paymentsPerSecond.push(Math.round(perSecond * 10) / 10)
    s.valueAtRiskProviders.push(providerRisk.toString())
    s.valueAtRiskRenters.push(renterRisk.toString())
    s.rssBytes.push(rssBytes)
    return { tMs, online, activeLeases: active }
  }

  /** Ticks accepted over the run: every lease's, ended or running. */
  totalTicks(): number {
    return this.lastSample?.ticks ?? 0
  }
}

/**
 * The reason a failure is counted under: the error's code when it is a name (parkbench's typed errors, Node's
 * system errors), else its class name, with a numeric code (a JSON-RPC or exit code) after it.
 */
export function failureReason(err: unknown): string {
  const { code, name } = (err ?? {}) as { code?: unknown; name?: unknown }
  if (typeof code === 'string' && code !== '') return code
  const base = typeof name === 'string' && name !== '' ? name : 'Error'
  return typeof code === 'number' ? `${base}:${code}` : base
}
