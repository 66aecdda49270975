import { loadavg } from 'node:os'
import { logger } from '@libp2p/logger'
import type { LeaseInfo } from '../../lease/metered-lease.js'
import type { ReachabilityStatus } from '../../net/reachability.js'
import type { SettlementRecord } from '../../pay/settlement-ledger.js'
import type { DaemonStatus } from '../daemon.js'
import { appendEarningsLog, readEarningsLog } from './earnings-log.js'

const log = logger('parkbench:daemon:console')

/** What the console reads from the daemon: narrow, so the page can be tested against any daemon state. */
export interface ConsoleSource {
  status(): Promise<DaemonStatus>
  leaseList(): LeaseInfo[]
  /** What is for sale, advertised or not (a paused daemon still shows its terms). */
  terms(): Promise<ConsoleTerms>
  /** Why the daemon is not selling now, if it is paused. */
  paused(): { by: 'owner' | 'policy'; detail: string } | undefined
  /** Channels with accepted proofs and pending settlements, when selling. */
  channels(): Promise<ConsoleChannels | undefined>
  /** Mined settlements, oldest first. */
  settlements(): Promise<SettlementRecord[]>
  /** Jobs done since start. */
  jobCount(): number
  /** The resource policy and what it says now, if one is configured. */
  policy?(): unknown
}

export interface ConsoleTerms {
  pricePerSecond: bigint
  tokenSymbol: string
  threads: number
  memoryBytes: bigint
  maxLeaseSeconds: number
  models: Array<{ name: string; sha256: string; sizeBytes: number }>
}

export interface ConsoleChannels {
  channels: Array<{
    channelId: string
    acceptedOffChain: bigint
    settledPaid: bigint
    gasSpent: bigint
    writtenOff: bigint
  }>
  pending: unknown[]
}

/** One point of the earnings chart: lifetime totals when it was taken. */
export interface EarningsSample {
  /** Unix ms. */
  t: number
  /** Acknowledged to renters (settled or not), base units. */
  gross: bigint
  /** Paid by settlements, base units. */
  settled: bigint
  /** Gas spent settling, wei. */
  gas: bigint
}

/** An address's scope, as far as the address itself tells. */
export type AddressScope = 'loopback' | 'private' | 'public' | 'relayed'

/** Loopback, private (RFC 1918, CGNAT, link-local, ULA) or public, from a multiaddr's text. */
export function addressScope(addr: string): AddressScope {
  if (addr.includes('/p2p-circuit')) return 'relayed'
  const v4 = /^\/ip4\/(\d+)\.(\d+)\.\d+\.\d+/.exec(addr)
  if (v4 != null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    if (a === 127) return 'loopback'
    if (a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 169 && b === 254))
      return 'private'
    if (a === 100 && b >= 64 && b < 128) return 'private'
    return 'public'
  }
  const v6 = /^\/ip6\/([0-9a-fA-F:]+)/.exec(addr)
  if (v6 != null) {
    const ip = v6[1]!.toLowerCase()
    if (ip === '::1') return 'loopback'
    if (/^f[cd]/.test(ip) || ip.startsWith('fe80')) return 'private'
    return 'public'
  }
  if (/^\/(memory|unix)\//.test(addr)) return 'loopback'
  return 'public'
}

/** Settled gross, gas and net per UTC day, from the settlement history. */
export function earningsPerDay(
  history: SettlementRecord[],
): Array<{ day: string; settled: bigint; gas: bigint; net: bigint; settlements: number }> {
  const days = new Map<string, { settled: bigint; gas: bigint; settlements: number }>()
  for (const record of history) {
    const day = new Date(record.settledAt).toISOString().slice(0, 10)
    const entry = days.get(day) ?? { settled: 0n, gas: 0n, settlements: 0 }
    entry.settled += record.paid
    entry.gas += record.gasCost
    entry.settlements++
    days.set(day, entry)
  }
  return [...days].sort(([a], [b]) => (a < b ? 1 : -1)).map(([day, e]) => ({ day, ...e, net: e.settled - e.gas }))
}

const sum = (values: bigint[]): bigint => values.reduce((a, b) => a + b, 0n)

/**
 * The console's view of the daemon: samples lifetime earnings and load every few seconds (kept in memory, a
 * bounded window) and builds the one JSON document the page polls.
 */
export class ConsoleState {
  private readonly source: ConsoleSource
  private readonly samples: EarningsSample[] = []
  private readonly maxSamples: number
  private last: { at: number; cpuMicros: number; jobs: number } = {
    at: performance.now(),
    cpuMicros: cpuMicros(),
    jobs: 0,
  }
  private rates = { cpuPercent: 0, jobsPerSecond: 0 }
  private readonly logFile: string | undefined
  private readonly logEveryMs: number
  private logged: EarningsSample | undefined
  private logging: Promise<void> = Promise.resolve()

  /**
   * `logFile`: keep the samples there too (one line at most every `logEveryMs`, default a minute, and at every
   * settlement), so the chart survives a restart.
   */
  constructor(source: ConsoleSource, init: { maxSamples?: number; logFile?: string; logEveryMs?: number } = {}) {
    this.source = source
    this.maxSamples = init.maxSamples ?? 4_320
    this.logFile = init.logFile
    this.logEveryMs = init.logEveryMs ?? 60_000
  }

  /** Read the samples kept by earlier runs. */
  async load(): Promise<void> {
    if (this.logFile === undefined) return
    const kept = await readEarningsLog(this.logFile, this.maxSamples)
    this.samples.unshift(...kept)
    this.logged = kept.at(-1)
  }

  /** Take one earnings sample and update the load rates (CPU %, jobs/s) since the last one. */
  async sample(): Promise<void> {
    const now = performance.now()
    const cpu = cpuMicros()
    const jobs = this.source.jobCount()
    const elapsedMs = now - this.last.at
    if (elapsedMs >= 500) {
      this.rates = {
        cpuPercent: Math.round(((cpu - this.last.cpuMicros) / 1000 / elapsedMs) * 1000) / 10,
        jobsPerSecond: Math.round(((jobs - this.last.jobs) / elapsedMs) * 1000 * 100) / 100,
      }
      this.last = { at: now, cpuMicros: cpu, jobs }
    }
    const [channels, status] = [await this.source.channels(), await this.source.status()]
    if (channels === undefined) return
    const gross = sum(channels.channels.map((c) => c.acceptedOffChain))
    const settled = sum(status.earnings?.tokens.map((t) => t.settled) ?? [])
    const gas = sum(status.earnings?.tokens.map((t) => t.gasSpent) ?? [])
    const previous = this.samples.at(-1)
    // A flat stretch keeps its two ends only: the chart stays as accurate with far fewer points.
    if (
      previous !== undefined &&
      this.samples.length >= 2 &&
      previous.gross === gross &&
      previous.settled === settled &&
      previous.gas === gas &&
      this.samples.at(-2)!.gross === gross &&
      this.samples.at(-2)!.settled === settled &&
      this.samples.at(-2)!.gas === gas
    ) {
      previous.t = Date.now()
      return
    }
    this.samples.push({ t: Date.now(), gross, settled, gas })
    if (this.samples.length > this.maxSamples) this.samples.shift()
    this.keep(this.samples.at(-1)!)
  }

  /** Append a sample to the log when a minute has passed since the last one kept, or a settlement changed it. */
  private keep(sample: EarningsSample): void {
    const file = this.logFile
    const last = this.logged
    if (file === undefined) return
    if (last !== undefined && sample.t - last.t < this.logEveryMs && last.settled === sample.settled) return
    if (last !== undefined && last.gross === sample.gross && last.settled === sample.settled) return
    this.logged = { ...sample }
    const copy = { ...sample }
    this.logging = this.logging
      .then(async () => appendEarningsLog(file, copy))
      .catch((err: Error) => log('keeping an earnings sample failed - %s', err.message))
  }

  /** Everything the page shows, in one document (amounts as decimal strings). */
  async state(): Promise<unknown> {
    await this.sample()
    const [status, terms, channels, history] = await Promise.all([
      this.source.status(),
      this.source.terms(),
      this.source.channels(),
      this.source.settlements(),
    ])
    const leases = this.source.leaseList()
    const now = Date.now()
    const withSeconds = (l: LeaseInfo) => ({ ...l, seconds: Math.round(((l.endedAt ?? now) - l.startedAt) / 1000) })
    const paused = this.source.paused()
    const settledByChannel = channels?.channels ?? []
    return {
      now,
      node: {
        peerId: status.peerId,
        payoutAddress: status.payoutAddress,
        addresses: status.addresses.map((addr) => ({ addr, scope: addressScope(addr) })),
        reachability: reachability(status.reach),
      },
      selling: {
        state: status.selling ? 'selling' : paused !== undefined ? 'paused' : 'not-selling',
        paused,
        advertised: status.offer ?? null,
        terms,
      },
      policy: this.source.policy?.() ?? null,
      leases: {
        active: leases.filter((l) => l.state !== 'ended').map(withSeconds),
        recent: leases
          .filter((l) => l.state === 'ended')
          .slice(0, 20)
          .map(withSeconds),
      },
      earnings: {
        totals: status.earnings ?? null,
        series: this.samples,
        perDay: earningsPerDay(history),
      },
      channels: {
        list: settledByChannel.map((c) => ({ ...c, unsettled: c.acceptedOffChain - c.settledPaid })),
        settled: settledByChannel.filter((c) => c.acceptedOffChain > 0n && c.settledPaid >= c.acceptedOffChain).length,
        unsettled: settledByChannel.filter((c) => c.acceptedOffChain > c.settledPaid).length,
        pending: channels?.pending ?? [],
      },
      settlements: [...history].reverse().slice(0, 50),
      load: {
        ...status.load,
        cpuPercent: this.rates.cpuPercent,
        jobsPerSecond: this.rates.jobsPerSecond,
        jobs: this.source.jobCount(),
        systemLoad: loadavg(),
      },
    }
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

const REACH_SUMMARY = {
  public: 'public: peers dialled this node back, so the internet reaches it',
  private: 'private (behind a NAT or firewall): reachable through relays',
  local: 'loopback only: reachable from this machine',
  unknown: 'still finding out whether the internet reaches it',
} as const

/** What the daemon learnt of its reachability (AutoNAT and its relay reservations), as the console shows it. */
function reachability(reach: ReachabilityStatus): {
  public: boolean
  relayed: boolean
  summary: string
  relays: string[]
} {
  const relayed = reach.relayedAddresses.length > 0
  const summary =
    REACH_SUMMARY[reach.reachability] +
    (reach.reachability === 'private'
      ? relayed
        ? `, ${reach.relays.length} relay(s) reserved`
        : ', no relay yet'
      : '')
  return { public: reach.reachability === 'public', relayed, summary, relays: reach.relays }
}
