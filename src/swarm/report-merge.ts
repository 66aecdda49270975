import { ReportMergeError } from './errors.js'
import { Counter, distribution, phaseDistributions } from './metrics.js'
import { auditParts } from './part-audit.js'
import { FIRST_PAID_PHASES, type FirstPaidPhase } from './phases.js'
import type { SwarmReport } from './report-types.js'

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

function mergeCounts(maps: Array<Record<string, number>>): Record<string, number> {
  const counter = new Counter()
  for (const map of maps) for (const [k, n] of Object.entries(map)) counter.add(k, n)
  return counter.toJSON()
}

/** Check that the reports are every part of one split run, each once; returns them in part order. */
function checkParts(reports: SwarmReport[]): SwarmReport[] {
  const first = reports[0]
  if (first === undefined) throw new ReportMergeError('No reports to merge')
  const count = first.part?.count
  for (const r of reports) {
    if (r.part === null || r.books === undefined) {
      throw new ReportMergeError('A report to merge is not one part of a split run (run with --part k/n)')
    }
    const b = r.books
    const { firstPaidPhasesMs: phases, ...samples } = b.samples ?? {}
    const lists = [
      b.owned,
      b.providers,
      b.renters,
      b.crashes,
      ...Object.values(samples),
      // Parts written before the phases existed have none; where present, a list for every phase.
      ...(phases === undefined
        ? []
        : typeof phases === 'object' && phases !== null
          ? FIRST_PAID_PHASES.map((k) => (phases as Record<string, unknown>)[k])
          : [phases]),
    ]
    if (!lists.every(Array.isArray) || typeof b.hostile?.freeJobs !== 'number' || typeof b.auditedAt !== 'number') {
      throw new ReportMergeError(`Part ${r.part.index}'s report.json has no readable books`)
    }
    if (
      r.part.count !== count ||
      r.seed !== first.seed ||
      JSON.stringify(r.scenario) !== JSON.stringify(first.scenario)
    ) {
      throw new ReportMergeError(
        `The reports are of different runs (part ${r.part.index}/${r.part.count}, seed ${r.seed}; part ${first.part?.index}/${count}, seed ${first.seed})`,
      )
    }
  }
  const sorted = [...reports].sort((a, b) => a.part!.index - b.part!.index)
  const indices = sorted.map((r) => r.part!.index)
  const want = Array.from({ length: count! }, (_, i) => i + 1)
  if (indices.join() !== want.join()) {
    throw new ReportMergeError(`The run has ${count} parts; the reports are parts ${indices.join(', ')}`)
  }
  return sorted
}

/**
 * One report from the parts of a split run (`parkbench swarm report --merge`): counts summed, distributions made
 * again from every part's samples, series added point by point (the parts share the schedule's clock), and the
 * money audited across parts from both ends' books ({@link auditParts}). Throws `ReportMergeError`
 * (REPORT_MERGE_INVALID) unless the reports are each part of one run exactly once.
 *
 * @example
 * ```ts
 * const merged = mergeReports([await readReport('runs/p1'), await readReport('runs/p2')])
 * await writeReport('runs/merged', merged)
 * ```
 */
export function mergeReports(reports: SwarmReport[]): SwarmReport {
  const parts = checkParts(reports)
  const first = parts[0]!
  const audit = auditParts(parts)
  const durationMs = Math.max(...parts.map((p) => p.durationMs))
  const seconds = Math.max(1, durationMs / 1000)
  const samples = (k: 'timeToFirstOfferMs' | 'timeToFirstPaidResultMs' | 'inferLatencyMs'): number[] =>
    parts.flatMap((p) => p.books!.samples[k])
  const lookups = {
    attempts: sum(parts.map((p) => p.lookups.attempts)),
    succeeded: sum(parts.map((p) => p.lookups.succeeded)),
    within2s: sum(parts.map((p) => p.lookups.within2s)),
  }
  const leasesStarted = sum(parts.map((p) => p.leases.started))
  const ticks = sum(parts.map((p) => p.payments.ticks))
  const points = Math.min(...parts.map((p) => p.series.tMs.length))
  const addNumbers = (k: 'nodesOnline' | 'activeLeases' | 'paymentsPerSecond' | 'rssBytes'): number[] =>
    Array.from({ length: points }, (_, i) => sum(parts.map((p) => p.series[k][i]!)))
  const addWei = (k: 'valueAtRiskProviders' | 'valueAtRiskRenters'): string[] =>
    Array.from({ length: points }, (_, i) => parts.reduce((a, p) => a + BigInt(p.series[k][i]!), 0n).toString())
  const mean = (values: Array<number | null>): number | null => {
    const known = values.filter((v): v is number => v !== null)
    return known.length === 0 ? null : Math.round((sum(known) / known.length) * 100) / 100
  }
  const t = audit.total
  return {
    version: 1,
    scenario: first.scenario,
    seed: first.seed,
    part: null,
    mergedFrom: parts.length,
    mode: first.mode,
    substitutions: [
      ...first.substitutions,
      `Split run: ${parts.length} parts (each its own host or process group, node i on part i mod ${parts.length} + 1) on one shared chain and bootstrap node, merged afterwards; series are added point by point on the schedule's clock, so clock skew between hosts blurs them by the skew.`,
    ],
    startedAt: parts.map((p) => p.startedAt).sort()[0]!,
    durationMs,
    ok: audit.invariants.every((i) => i.ok),
    invariants: audit.invariants,
    nodes: {
      providers: sum(parts.map((p) => p.nodes.providers)),
      renters: sum(parts.map((p) => p.nodes.renters)),
      hostile: sum(parts.map((p) => p.nodes.hostile)),
      relays: sum(parts.map((p) => p.nodes.relays)),
      peak: Math.max(0, ...addNumbers('nodesOnline')),
      joined: sum(parts.map((p) => p.nodes.joined)),
      left: sum(parts.map((p) => p.nodes.left)),
      killed: sum(parts.map((p) => p.nodes.killed)),
    },
    timeToFirstOfferMs: distribution(samples('timeToFirstOfferMs')),
    timeToFirstPaidResultMs: distribution(samples('timeToFirstPaidResultMs')),
    ...(parts.every((p) => p.books!.samples.firstPaidPhasesMs !== undefined)
      ? {
          timeToFirstPaidResultPhasesMs: phaseDistributions(
            Object.fromEntries(
              FIRST_PAID_PHASES.map((k) => [k, parts.flatMap((p) => p.books!.samples.firstPaidPhasesMs![k])]),
            ) as Record<FirstPaidPhase, number[]>,
          ),
        }
      : {}),
    inferLatencyMs: distribution(samples('inferLatencyMs')),
    lookups: { ...lookups, successRate: lookups.attempts === 0 ? null : lookups.within2s / lookups.attempts },
    requests: {
      sent: sum(parts.map((p) => p.requests.sent)),
      served: sum(parts.map((p) => p.requests.served)),
      failed: sum(parts.map((p) => p.requests.failed)),
    },
    leases: {
      started: leasesStarted,
      ended: sum(parts.map((p) => p.leases.ended)),
      perSecond: Math.round((leasesStarted / seconds) * 100) / 100,
      byEndReason: mergeCounts(parts.map((p) => p.leases.byEndReason)),
    },
    failovers: sum(parts.map((p) => p.failovers)),
    payments: { ticks, perSecond: Math.round((ticks / seconds) * 10) / 10 },
    failures: mergeCounts(parts.map((p) => p.failures)),
    series: {
      tMs: first.series.tMs.slice(0, points),
      nodesOnline: addNumbers('nodesOnline'),
      activeLeases: addNumbers('activeLeases'),
      paymentsPerSecond: addNumbers('paymentsPerSecond'),
      valueAtRiskProviders: addWei('valueAtRiskProviders'),
      valueAtRiskRenters: addWei('valueAtRiskRenters'),
      rssBytes: addNumbers('rssBytes'),
    },
    money: {
      channels: audit.channels,
      total: {
        deposited: t.deposited.toString(),
        authorised: t.authorised.toString(),
        acknowledged: t.acknowledged.toString(),
        settled: t.settled.toString(),
        refunded: t.refunded.toString(),
        held: t.held.toString(),
      },
      conserved: audit.conserved,
    },
    latency: { pairs: parts.flatMap((p) => p.latency.pairs) },
    resources: {
      rssBytesPerNode: mean(parts.map((p) => p.resources.rssBytesPerNode)),
      cpuMsPerNodeSecond: mean(parts.map((p) => p.resources.cpuMsPerNodeSecond)),
      eventLoopP99Ms: Math.max(...parts.map((p) => p.resources.eventLoopP99Ms ?? 0)),
      nodeFlags: [...new Set(parts.flatMap((p) => p.resources.nodeFlags ?? []))],
    },
    hostile: {
      wrongResultProviders: sum(parts.map((p) => p.hostile.wrongResultProviders)),
      wrongResultsServed: sum(parts.map((p) => p.hostile.wrongResultsServed)),
      wrongResultEarned: audit.wrongResultEarned.toString(),
      freeJobs: sum(parts.map((p) => p.books!.hostile.freeJobs)),
    },
  }
}
