import type { SwarmAudit } from './audit.js'
import { distribution, phaseDistributions, type SwarmMetrics } from './metrics.js'
import type { PartBooks } from './part-books.js'
import type { SwarmReport } from './report-types.js'
import { type Scenario, scenarioJson } from './scenario.js'
import type { Schedule } from './schedule.js'

/** What stands in for a real part in an in-process run, and why: every report says so. */
export const IN_PROCESS_SUBSTITUTIONS = [
  'Transport: TCP is replaced by the shaped in-process transport (src/swarm/shaped-transport.ts, built like @libp2p/memory on @libp2p/utils): noise, yamux, identify, ping and kad-dht run unchanged on top of it; latency, jitter, loss and bandwidth are applied per link in user space (this kernel has no netem).',
  'Kill -9: in one process a node cannot be killed by the kernel; a killed node has every connection reset at once (no END, no goodbye), then its services stop. What it acknowledged is what its durable payment store holds, as after a real kill (tests/daemon proves that with real processes).',
  'libp2p settings for many nodes in one process: every connection is pinged every 60 s (libp2p: 10 s), a node keeps the connection limit of a daemon (300; at 64 the pruner of libp2p and its reconnect queue fought, see docs/swarm.md), renters and hostile peers are DHT clients (as createClient makes renters), and a daemon neither rescans its data dir for models nor samples the event loop (the run samples it once); its settler looks at the chain every 30 s.',
  'Compute: all providers share one onnxruntime worker process (1 thread), as they share the machine; each has its own model store, admission, leases and payments.',
  'Chain: one anvil (a real EVM node) for the whole swarm; the final settlement is forced (gas is spent even where a provider would wait) so that settled = acknowledged can be checked on every channel.',
]

/** libp2p pings between two regions, against the matrix. */
export interface LatencyMeasurement {
  from: string
  to: string
  configuredRttMs: number
  samples: number[]
}

export interface BuildReportInput {
  scenario: Scenario
  schedule: Schedule
  metrics: SwarmMetrics
  audit: SwarmAudit
  latency: LatencyMeasurement[]
  startedAt: Date
  durationMs: number
  cpu: NodeJS.CpuUsage
  nodeSeconds: number
  peak: number
  mode: SwarmReport['mode']
  substitutions: string[]
  /** One part of a split run: which, and its books for the merge. */
  part?: { index: number; count: number }
  books?: PartBooks
}

function percentile(samples: number[], q: number): number | null {
  if (samples.length === 0) return null
  const sorted = [...samples].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 10) / 10
}

/** The report of a finished run, from what it measured and what the audit found. */
export function buildReport(input: BuildReportInput): SwarmReport {
  const { scenario, schedule, metrics, audit } = input
  const seconds = Math.max(1, scenario.durationS)
  const count = (kind: string): number => schedule.events.filter((e) => e.kind === kind).length
  const role = (r: string): number => schedule.nodes.filter((n) => n.role === r).length
  const t = audit.total
  const invariants = audit.invariants
  const rssMax = metrics.series.rssBytes.reduce((a, b) => Math.max(a, b), 0)
  const cpuMs = (input.cpu.user + input.cpu.system) / 1000
  return {
    version: 1,
    scenario: scenarioJson(scenario),
    seed: scenario.seed,
    part: input.part ?? null,
    ...(input.books !== undefined && { books: input.books }),
    mode: input.mode,
    substitutions: input.substitutions,
    startedAt: input.startedAt.toISOString(),
    durationMs: Math.round(input.durationMs),
    ok: invariants.every((i) => i.ok),
    invariants,
    nodes: {
      providers: role('provider'),
      renters: role('renter'),
      hostile: role('garbage') + role('freeloader') + role('bad-offer'),
      relays: 0,
      peak: input.peak,
      joined: count('start'),
      left: count('leave'),
      killed: count('kill'),
    },
    timeToFirstOfferMs: distribution(metrics.timeToFirstOfferMs),
    timeToFirstPaidResultMs: distribution(metrics.timeToFirstPaidResultMs),
    timeToFirstPaidResultPhasesMs: phaseDistributions(metrics.firstPaidPhasesMs),
    inferLatencyMs: distribution(metrics.inferLatencyMs),
    lookups: {
      ...metrics.lookups,
      successRate: metrics.lookups.attempts === 0 ? null : metrics.lookups.within2s / metrics.lookups.attempts,
    },
    requests: { ...metrics.requests },
    leases: {
      started: metrics.leasesStarted,
      ended: Object.values(metrics.endReasons.toJSON()).reduce((a, b) => a + b, 0),
      perSecond: Math.round((metrics.leasesStarted / seconds) * 100) / 100,
      byEndReason: metrics.endReasons.toJSON(),
    },
    failovers: metrics.failovers,
    payments: {
      ticks: metrics.totalTicks(),
      perSecond: Math.round((metrics.totalTicks() / seconds) * 10) / 10,
    },
    failures: metrics.failures.toJSON(),
    series: metrics.series,
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
    latency: {
      pairs: input.latency.map((l) => ({
        from: l.from,
        to: l.to,
        configuredRttMs: l.configuredRttMs,
        measuredRttP50Ms: percentile(l.samples, 0.5),
        measuredRttP95Ms: percentile(l.samples, 0.95),
        samples: l.samples.length,
      })),
    },
    resources: {
      rssBytesPerNode: input.peak === 0 ? null : Math.round(rssMax / input.peak),
      cpuMsPerNodeSecond: input.nodeSeconds === 0 ? null : Math.round((cpuMs / input.nodeSeconds) * 100) / 100,
      eventLoopP99Ms: metrics.eventLoopP99Ms,
      nodeFlags: [...process.execArgv],
    },
    hostile: {
      wrongResultProviders: schedule.nodes.filter((n) => n.wrongResults === true).length,
      wrongResultsServed: metrics.wrongResultsServed,
      wrongResultEarned: audit.wrongResultEarned.toString(),
      freeJobs: metrics.freeJobs,
    },
  }
}
