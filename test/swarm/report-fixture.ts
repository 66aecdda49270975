import type { Distribution, SwarmReport } from '../../src/swarm/report-types.js'

/** Text in the scenario that would run if the page put report strings into HTML unescaped. */
export const HOSTILE_TEXT =
  '<script>window.__reportInjected = true</script><img src=x onerror="window.__reportInjected = true">'
/** Breaks out of the embedded JSON's `<script>` element unless `<` is escaped there. */
export const SCRIPT_BREAKOUT = '</script><script>window.__reportInjected = true</script>'

export interface ReportFixtureInit {
  /** Points in each CDF. */
  cdfPoints?: number
  /** Points in each time series. */
  seriesPoints?: number
}

/** A distribution with `points` CDF points rising from `low` ms, percentiles picked off its CDF like the swarm does. */
function distribution(points: number, low: number, spread: number): Distribution {
  if (points === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, cdf: [] }
  // A skewed curve (most samples fast, a long tail), as latency is; values strictly rise so the CDF is sorted.
  const cdf: Array<[number, number]> = Array.from({ length: points }, (_, i) => {
    const fraction = (i + 1) / points
    return [Math.round(low + spread * fraction ** 3 + i), fraction]
  })
  const at = (q: number) => cdf.find(([, fraction]) => fraction >= q)![0]
  return { count: points * 3, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: cdf[points - 1]![0], cdf }
}

/** A realistic report of a 40-node run, seeded, with one broken invariant and hostile text in the scenario. */
export function makeReport(init: ReportFixtureInit = {}): SwarmReport {
  const cdfPoints = init.cdfPoints ?? 120
  const seriesPoints = init.seriesPoints ?? 60
  const tMs = Array.from({ length: seriesPoints }, (_, i) => i * 1000)
  const wave = (i: number, base: number, amplitude: number) => Math.round(base + amplitude * Math.sin(i / 5))
  const gweiAsWei = (gwei: number) => (BigInt(Math.max(0, Math.round(gwei))) * 10n ** 9n + 123n).toString()
  return {
    version: 1,
    scenario: {
      name: 'forty nodes, two regions',
      note: HOSTILE_TEXT,
      breakout: SCRIPT_BREAKOUT,
      providers: 20,
      renters: 16,
      hostile: { wrongResultProviders: 2, freeRiders: 2 },
      regions: { eu: { us: 90 } },
      durationS: seriesPoints,
    },
    seed: 424242,
    part: null,
    mode: 'in-process',
    substitutions: [
      'the in-process transport instead of TCP: 40 nodes share one process',
      'anvil instead of a public chain',
    ],
    startedAt: '2025-01-15T10:00:00.000Z',
    durationMs: seriesPoints * 1000,
    ok: false,
    invariants: [
      { name: 'money-conserved', ok: true, detail: 'deposited = settled + refunded + held on every channel' },
      { name: 'no-honest-crash', ok: true, detail: 'every honest node ran to the end' },
      { name: 'no-free-work', ok: true, detail: 'hostile renters got 0 jobs free' },
      {
        name: 'overpay-within-one-tick',
        ok: false,
        detail: 'renter 12 authorised 2 ticks more than it was served on channel 0x5a…91 <b>bold?</b>',
      },
    ],
    nodes: { providers: 20, renters: 16, hostile: 4, relays: 0, peak: 40, joined: 42, left: 2, killed: 1 },
    timeToFirstOfferMs: distribution(cdfPoints, 40, 900),
    timeToFirstPaidResultMs: distribution(cdfPoints, 180, 2400),
    timeToFirstPaidResultPhasesMs: {
      discovery: distribution(16, 300, 1200),
      channel: distribution(16, 40, 400),
      modelPush: distribution(16, 100, 600),
      job: distribution(16, 5, 60),
      other: distribution(16, 20, 300),
    },
    inferLatencyMs: distribution(cdfPoints, 3, 60),
    lookups: { attempts: 40, succeeded: 39, within2s: 37, successRate: 39 / 40 },
    requests: { sent: 4810, served: 4790, failed: 20 },
    leases: {
      started: 180,
      ended: 176,
      perSecond: 3,
      byEndReason: { 'renter-ended': 160, expired: 12, 'provider-left': 4 },
    },
    failovers: 5,
    payments: { ticks: 9000, perSecond: 150 },
    failures: { PROVIDER_UNREACHABLE: 12, LEASE_EXPIRED: 6, 'WEIRD<CODE>': 2 },
    series: {
      tMs,
      nodesOnline: tMs.map((_, i) => Math.min(40, i + 1)),
      activeLeases: tMs.map((_, i) => Math.max(0, wave(i, 14, 6))),
      paymentsPerSecond: tMs.map((_, i) => Math.max(0, wave(i, 150, 40))),
      valueAtRiskProviders: tMs.map((_, i) => gweiAsWei(wave(i, 3000, 1500))),
      valueAtRiskRenters: tMs.map((_, i) => gweiAsWei(wave(i + 7, 1200, 800))),
      rssBytes: tMs.map((_, i) => (300 + i * 2) * 1024 * 1024),
    },
    money: {
      channels: [
        {
          channelId: `0x${'5a'.repeat(31)}91`,
          renter: '0x1111111111111111111111111111111111111111',
          provider: '12D3KooWProviderPeerIdThatIsLongEnoughToShorten',
          deposited: '10000000000000000',
          authorised: '4200000000123456',
          acknowledged: '4200000000123456',
          settled: '4200000000123456',
          refunded: '5799999999876544',
          held: '0',
          ok: true,
        },
      ],
      total: {
        deposited: '10000000000000000',
        authorised: '4200000000123456',
        acknowledged: '4200000000123456',
        settled: '4200000000123456',
        refunded: '5799999999876544',
        held: '0',
      },
      conserved: true,
    },
    latency: {
      pairs: [
        { from: 'eu', to: 'eu', configuredRttMs: 10, measuredRttP50Ms: 10.4, measuredRttP95Ms: 11.9, samples: 120 },
        { from: 'eu', to: 'us', configuredRttMs: 90, measuredRttP50Ms: 90.8, measuredRttP95Ms: 93.1, samples: 80 },
      ],
    },
    resources: { rssBytesPerNode: 9.5 * 1024 * 1024, cpuMsPerNodeSecond: 4.2, eventLoopP99Ms: 12.5 },
    hostile: { wrongResultProviders: 2, wrongResultsServed: 31, wrongResultEarned: '31000000000000', freeJobs: 0 },
  }
}

/** A run that measured nothing: no samples in any distribution, no series points, no channels. */
export function makeEmptyReport(): SwarmReport {
  const report = makeReport({ cdfPoints: 0, seriesPoints: 0 })
  return {
    ...report,
    ok: true,
    invariants: [],
    lookups: { attempts: 0, succeeded: 0, within2s: 0, successRate: null },
    money: { ...report.money, channels: [] },
    latency: { pairs: [] },
    failures: {},
    leases: { started: 0, ended: 0, perSecond: 0, byEndReason: {} },
  }
}
