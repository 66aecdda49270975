import type { PartBooks } from './part-books.js'
import type { FirstPaidPhase } from './phases.js'

/**
 * The shape of a swarm run's report: what `parkbench swarm run` writes as `report.json` and what `report.html` is
 * rendered from. Amounts of money are decimal strings of the token's base units (JSON has no bigint); times are
 * milliseconds; every series shares one time axis (`series.tMs`, from the run's start).
 */

/** A distribution of samples: counts and percentiles, and its empirical CDF for plots. */
export interface Distribution {
  count: number
  /** Undefined values are written as null when there are no samples. */
  p50: number | null
  p95: number | null
  p99: number | null
  max: number | null
  /** Points of the empirical CDF, `[value, fraction of samples <= value]`, at most 200, sorted by value. */
  cdf: Array<[number, number]>
}

/** One invariant checked at the end of a run; the run fails if any is not ok. */
export interface InvariantResult {
  /** Stable name, e.g. `money-conserved`, `no-honest-crash`, `no-free-work`, `overpay-within-one-tick`. */
  name: string
  ok: boolean
  /** One line: what was checked and, when it broke, where. */
  detail: string
}

/** One channel's books, to the wei (decimal strings). */
export interface ChannelMoneyRow {
  channelId: string
  renter: string
  provider: string
  /** What the renter signed (its PaymentSender's channel total). */
  authorised: string
  /** What the provider acknowledged (its PaymentReceiver's channel total). */
  acknowledged: string
  /** Paid to the provider on-chain (sum of ChannelSettled). */
  settled: string
  /** Returned to the renter on-chain (ChannelWithdrawn). */
  refunded: string
  /** Still held by the contract. */
  held: string
  deposited: string
  ok: boolean
}

/** The applied vs configured one-way latency of one region pair. */
export interface LatencyPairRow {
  from: string
  to: string
  /** The matrix's round-trip time for the pair, ms. */
  configuredRttMs: number
  /** Measured by libp2p ping over the shaped links, ms. */
  measuredRttP50Ms: number | null
  measuredRttP95Ms: number | null
  samples: number
}

export interface SwarmReport {
  version: 1
  /** The scenario as run, defaults filled in: with `seed`, it reproduces the schedule. */
  scenario: unknown
  seed: number
  /** `k/n` when this report is one part of a scenario split across hosts. */
  part: { index: number; count: number } | null
  /** One part's books, for `parkbench swarm report --merge` (part reports only). */
  books?: PartBooks
  /** A merged report: how many parts it was put together from. */
  mergedFrom?: number
  mode: 'in-process' | 'multi-process'
  /** What stands in for a real part at this scale, and why (e.g. the in-process transport instead of TCP). */
  substitutions: string[]
  startedAt: string
  durationMs: number
  /** Whether every invariant held. */
  ok: boolean
  invariants: InvariantResult[]
  nodes: {
    providers: number
    renters: number
    hostile: number
    relays: number
    /** The most nodes online at once. */
    peak: number
    joined: number
    left: number
    killed: number
  }
  /** From a renter's start to its first verified offer found on the DHT. */
  timeToFirstOfferMs: Distribution
  /** From `client.infer()` of a renter's first request to its first paid result. */
  timeToFirstPaidResultMs: Distribution
  /**
   * The renters' first paid requests split by phase (discovery, channel, modelPush, job, other: see
   * src/swarm/phases.ts), each phase's ms over those requests. Absent in reports before it existed.
   */
  timeToFirstPaidResultPhasesMs?: Record<FirstPaidPhase, Distribution>
  /** Every paid request, `client.infer()` to result. */
  inferLatencyMs: Distribution
  lookups: { attempts: number; succeeded: number; within2s: number; successRate: number | null }
  requests: { sent: number; served: number; failed: number }
  leases: { started: number; ended: number; perSecond: number; byEndReason: Record<string, number> }
  failovers: number
  payments: { ticks: number; perSecond: number }
  /** Failed requests and refused leases by error code. */
  failures: Record<string, number>
  series: {
    tMs: number[]
    nodesOnline: number[]
    activeLeases: number[]
    paymentsPerSecond: number[]
    /** Served but not yet paid for, summed over providers (what providers would lose if every renter vanished). */
    valueAtRiskProviders: string[]
    /** Paid but not yet served, summed over renters (what renters would lose if every provider vanished). */
    valueAtRiskRenters: string[]
    /** The process's resident memory, bytes. */
    rssBytes: number[]
  }
  money: {
    channels: ChannelMoneyRow[]
    total: {
      deposited: string
      authorised: string
      acknowledged: string
      settled: string
      refunded: string
      held: string
    }
    conserved: boolean
  }
  latency: { pairs: LatencyPairRow[] }
  resources: {
    /** Resident memory of the run's processes at the peak, divided by the most nodes online. */
    rssBytesPerNode: number | null
    /**
     * CPU time (user + system) of the run's processes per node-second online (multi-process: the members' as they
     * reported it when they finished; their onnxruntime workers not included).
     */
    cpuMsPerNodeSecond: number | null
    eventLoopP99Ms: number | null
    /**
     * The Node flags the run's process ran with (`process.execArgv`; a merged report lists each part's): heap sizes
     * change what one process holds, so they are part of what reproduces a run. Absent in reports before it existed.
     */
    nodeFlags?: string[]
  }
  /** Providers that return wrong results: what they earned before anything noticed (results are not verified). */
  hostile: {
    wrongResultProviders: number
    wrongResultsServed: number
    wrongResultEarned: string
    /** Jobs hostile renters got served without paying (the invariant wants 0). */
    freeJobs: number
  }
}
