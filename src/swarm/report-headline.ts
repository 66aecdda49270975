import { FIRST_PAID_PHASES, type FirstPaidPhase } from './phases.js'
import type { SwarmReport } from './report-types.js'

/** One line of a report's headline: what `parkbench swarm` prints as a table and report.html shows first. */
export interface HeadlineRow {
  /** Stable, kebab-case: the row's `data-key` in report.html. */
  key: string
  label: string
  value: string
}

/** A duration in ms for people: `n/a` for no samples, one decimal under 100 ms, whole ms above. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return 'n/a'
  return ms < 100 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

/** A fraction as a percentage with one decimal, `n/a` when there was nothing to count. */
export function formatPercent(fraction: number | null): string {
  if (fraction === null || !Number.isFinite(fraction)) return 'n/a'
  return `${(fraction * 100).toFixed(1)}%`
}

/** A rate per second with two decimals. */
export function formatRate(perSecond: number): string {
  return Number.isFinite(perSecond) ? `${perSecond.toFixed(2)}/s` : 'n/a'
}

/** Bytes as MiB with one decimal, `n/a` when unmeasured. */
export function formatMiB(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) return 'n/a'
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** Past this event-loop delay p99 a run's process was too busy to keep the modelled network's time. */
export const HOST_LOOP_P99_LIMIT_MS = 250

/** Whether the machine kept up with the run, and what says so. */
export interface HostVerdict {
  keptUp: boolean
  eventLoopP99Ms: number | null
  /** How late the run's samples came, p95 over its sampling intervals, in ms past `sampleEveryMs`. */
  sampleLateP95Ms: number | null
}

/**
 * Did the host keep up? A run whose event loop was delayed past {@link HOST_LOOP_P99_LIMIT_MS} at p99, or whose
 * samples came more than one interval late at p95, measured its machine as much as the modelled network: its
 * lookups, latencies and timeouts are the queueing of an overloaded process, and a researcher should not read
 * them as the network's. (A merged report: the worst part's event loop, the first part's samples.)
 */
export function hostVerdict(report: Pick<SwarmReport, 'resources' | 'series' | 'scenario'>): HostVerdict {
  const asked = (report.scenario as { sampleEveryMs?: unknown } | null)?.sampleEveryMs
  // The scenario's default when a report does not say.
  const every = typeof asked === 'number' && asked > 0 ? asked : 1000
  const t = report.series.tMs
  const late: number[] = []
  for (let i = 1; i < t.length; i++) late.push(Math.max(0, t[i]! - t[i - 1]! - every))
  late.sort((a, b) => a - b)
  const sampleLateP95Ms = late.length === 0 ? null : late[Math.min(late.length - 1, Math.ceil(late.length * 0.95) - 1)]!
  const loop = report.resources.eventLoopP99Ms
  const keptUp =
    (loop === null || loop <= HOST_LOOP_P99_LIMIT_MS) && (sampleLateP95Ms === null || sampleLateP95Ms <= every)
  return { keptUp, eventLoopP99Ms: loop, sampleLateP95Ms }
}

function hostRow(report: SwarmReport): HeadlineRow {
  const v = hostVerdict(report)
  const facts = `event-loop p99 ${formatMs(v.eventLoopP99Ms)}, samples late p95 ${formatMs(v.sampleLateP95Ms)}`
  return {
    key: 'host',
    label: 'Host',
    value: v.keptUp
      ? `kept up (${facts})`
      : `FELL BEHIND (${facts}): lookups, latencies and timeouts measure this machine's queues, not the modelled ` +
        'network; run fewer nodes per process (--part) or per core',
  }
}

const PHASE_NAMES: Record<FirstPaidPhase, string> = {
  discovery: 'discovery',
  channel: 'channel',
  modelPush: 'model push',
  job: 'job',
  other: 'other',
}

function phasesRow(report: SwarmReport): HeadlineRow[] {
  const phases = report.timeToFirstPaidResultPhasesMs
  if (phases === undefined) return []
  return [
    {
      key: 'first-paid-phases',
      label: 'First paid result by phase, p50',
      value: FIRST_PAID_PHASES.map((k) => `${PHASE_NAMES[k]} ${formatMs(phases[k].p50)}`).join(', '),
    },
  ]
}

/** The run's headline, in the order it is shown: outcome, scale, discovery, work, money. */
export function headlineRows(report: SwarmReport): HeadlineRow[] {
  const { nodes, lookups, requests, timeToFirstPaidResultMs: ttfpr } = report
  const part =
    report.part !== null
      ? `, part ${report.part.index}/${report.part.count}`
      : report.mergedFrom !== undefined
        ? `, merged from ${report.mergedFrom} parts`
        : ''
  const brokenCount = report.invariants.filter((invariant) => !invariant.ok).length
  return [
    {
      key: 'result',
      label: 'Result',
      value: report.ok ? 'ok' : `failed (${brokenCount} of ${report.invariants.length} invariants broken)`,
    },
    { key: 'mode', label: 'Mode', value: `${report.mode}${part}, seed ${report.seed}` },
    {
      key: 'nodes',
      label: 'Nodes',
      value:
        `${nodes.providers} providers, ${nodes.renters} renters, ${nodes.hostile} hostile, ${nodes.relays} relays; ` +
        `peak ${nodes.peak} online; ${nodes.joined} joined, ${nodes.left} left, ${nodes.killed} killed`,
    },
    { key: 'duration', label: 'Duration', value: `${(report.durationMs / 1000).toFixed(1)} s` },
    hostRow(report),
    {
      key: 'lookup-success',
      label: 'Lookup success',
      value:
        `${formatPercent(lookups.successRate)} (${lookups.succeeded} of ${lookups.attempts}, ` +
        `${lookups.within2s} within 2 s)`,
    },
    {
      key: 'requests',
      label: 'Requests served / failed',
      value: `${requests.served} / ${requests.failed} (of ${requests.sent} sent)`,
    },
    {
      key: 'leases-per-second',
      label: 'Leases per second',
      value: `${formatRate(report.leases.perSecond)} (${report.leases.started} started)`,
    },
    {
      key: 'payments-per-second',
      label: 'Payments per second',
      value: `${formatRate(report.payments.perSecond)} (${report.payments.ticks} ticks)`,
    },
    {
      key: 'time-to-first-paid-result',
      label: 'Time to first paid result p50 / p95 / p99',
      value: `${formatMs(ttfpr.p50)} / ${formatMs(ttfpr.p95)} / ${formatMs(ttfpr.p99)} (${ttfpr.count} samples)`,
    },
    ...phasesRow(report),
    { key: 'failovers', label: 'Failovers', value: String(report.failovers) },
    { key: 'money-conserved', label: 'Money conserved', value: report.money.conserved ? 'yes' : 'no' },
  ]
}
