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
    { key: 'failovers', label: 'Failovers', value: String(report.failovers) },
    { key: 'money-conserved', label: 'Money conserved', value: report.money.conserved ? 'yes' : 'no' },
  ]
}
