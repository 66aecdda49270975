import { ParkbenchError } from '../errors.js'
import { createRandom } from './random.js'

/** A simulated internet: regions, the RTT between them, jitter, loss and bandwidth classes. */
export interface NetworkConfig {
  /** `weight`: share of nodes placed there (used by whoever places nodes; the model itself ignores it). */
  regions: Array<{ name: string; weight?: number }>
  /**
   * Round-trip times in ms between regions, symmetric; `rttMs[a][b]`; same-region entries are the intra-region RTT.
   * One direction per pair is enough; when both are given they must be equal.
   */
  rttMs: Record<string, Record<string, number>>
  /** Jitter: each chunk's one-way delay gets an extra uniform [0, jitterMs) (order on a link is kept). Default 0. */
  jitterMs?: number
  /** Loss on a reliable stream shows as retransmission delay: with this probability a chunk is delayed one extra RTT. Default 0. */
  loss?: number
  /** Bandwidth classes in bits per second, by name; a node's class limits its uplink and downlink. */
  bandwidthClasses?: Record<string, BandwidthClass>
}

export interface BandwidthClass {
  upBps: number
  downBps: number
}

/** A {@link NetworkConfig} (or a name used with one) is invalid; the message names the path, e.g. `network.rttMs.eu.us`. */
export class NetworkConfigError extends ParkbenchError {
  static override name = 'NetworkConfigError'
  /** The config path at fault, e.g. `network.rttMs.eu.us`. */
  readonly path: string
  constructor(path: string, problem: string, options: ErrorOptions = {}) {
    super(`${path}: ${problem}`, 'NETWORK_CONFIG_INVALID', options)
    this.path = path
  }
}

/** The two regions are partitioned: a dial between them fails and open connections are cut. */
export class NetworkPartitionedError extends ParkbenchError {
  static override name = 'NetworkPartitionedError'
  constructor(message = 'The network between these regions is partitioned', options: ErrorOptions = {}) {
    super(message, 'NETWORK_PARTITIONED', options)
  }
}

/** Delays applied on the links from one region to another, as `linkStats()` reports them. */
export interface LinkStats {
  from: string
  to: string
  /** Half the configured RTT: the delay the matrix asks for. */
  configuredOneWayMs: number
  /** Chunks sent from `from` to `to` (every one, not only the sampled ones). */
  chunks: number
  bytes: number
  /** Chunks whose delivery time was measured (about one in 64). */
  samples: number
  /** Mean delay the transport scheduled: one-way + jitter + loss + serialization and queueing behind earlier chunks. */
  meanScheduledMs: number
  /** Mean delay measured from send to delivery with `performance.now()`. */
  meanActualMs: number
  p50ActualMs: number
  p99ActualMs: number
  /** How much later than scheduled chunks were delivered (timer granularity and event-loop lag): mean and max. */
  meanLatenessMs: number
  maxLatenessMs: number
}

/** The counters one direction of traffic between two regions adds to; the transport holds it per link. */
export interface LinkStatsAccumulator {
  readonly from: string
  readonly to: string
  chunks: number
  bytes: number
  /** Record one sampled chunk's scheduled and measured delay, in ms. */
  record(scheduledMs: number, actualMs: number): void
}

/** A connection the network can cut (partition); the transport registers each one it opens. */
export interface CuttableLink {
  readonly fromRegion: string
  readonly toRegion: string
  cut(err: Error): void
}

const SAMPLES_KEPT = 1024

class StatsAccumulator implements LinkStatsAccumulator {
  chunks = 0
  bytes = 0
  samples = 0
  sumScheduled = 0
  sumActual = 0
  sumLateness = 0
  maxLateness = 0
  /** The latest {@link SAMPLES_KEPT} measured delays, for percentiles. */
  readonly recent: number[] = []

  constructor(
    readonly from: string,
    readonly to: string,
  ) {}

  record(scheduledMs: number, actualMs: number): void {
    const lateness = actualMs - scheduledMs
    this.sumScheduled += scheduledMs
    this.sumActual += actualMs
    this.sumLateness += lateness
    if (lateness > this.maxLateness) this.maxLateness = lateness
    this.recent[this.samples % SAMPLES_KEPT] = actualMs
    this.samples++
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isNonNegative = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0

/** Check a config and return it typed; throws {@link NetworkConfigError} naming the first bad path. */
export function validateNetworkConfig(config: unknown): NetworkConfig {
  if (!isRecord(config)) throw new NetworkConfigError('network', 'not an object')
  const { regions, rttMs, jitterMs, loss, bandwidthClasses } = config
  if (!Array.isArray(regions) || regions.length === 0) {
    throw new NetworkConfigError('network.regions', 'need a non-empty array')
  }
  const names = new Set<string>()
  regions.forEach((region: unknown, index) => {
    const path = `network.regions[${index}]`
    if (!isRecord(region)) throw new NetworkConfigError(path, 'not an object')
    if (typeof region.name !== 'string' || region.name === '') {
      throw new NetworkConfigError(`${path}.name`, 'need a non-empty string')
    }
    if (names.has(region.name)) throw new NetworkConfigError(`${path}.name`, `duplicate region "${region.name}"`)
    names.add(region.name)
    if (region.weight !== undefined && !isNonNegative(region.weight)) {
      throw new NetworkConfigError(`${path}.weight`, 'need a finite number >= 0')
    }
  })
  if (!isRecord(rttMs)) throw new NetworkConfigError('network.rttMs', 'not an object')
  for (const [from, row] of Object.entries(rttMs)) {
    if (!names.has(from)) throw new NetworkConfigError(`network.rttMs.${from}`, 'unknown region')
    if (!isRecord(row)) throw new NetworkConfigError(`network.rttMs.${from}`, 'not an object')
    for (const [to, value] of Object.entries(row)) {
      if (!names.has(to)) throw new NetworkConfigError(`network.rttMs.${from}.${to}`, 'unknown region')
      if (!isNonNegative(value))
        throw new NetworkConfigError(`network.rttMs.${from}.${to}`, 'need a finite number >= 0')
    }
  }
  const ordered = [...names]
  for (const [i, a] of ordered.entries()) {
    for (const b of ordered.slice(i)) {
      const ab = (rttMs[a] as Record<string, number> | undefined)?.[b]
      const ba = (rttMs[b] as Record<string, number> | undefined)?.[a]
      if (ab === undefined && ba === undefined) throw new NetworkConfigError(`network.rttMs.${a}.${b}`, 'missing')
      if (ab !== undefined && ba !== undefined && ab !== ba) {
        throw new NetworkConfigError(`network.rttMs.${a}.${b}`, `${ab} differs from network.rttMs.${b}.${a} (${ba})`)
      }
    }
  }
  if (jitterMs !== undefined && !isNonNegative(jitterMs)) {
    throw new NetworkConfigError('network.jitterMs', 'need a finite number >= 0')
  }
  if (loss !== undefined && !(isNonNegative(loss) && loss < 1)) {
    throw new NetworkConfigError('network.loss', 'need a probability in [0, 1)')
  }
  if (bandwidthClasses !== undefined) {
    if (!isRecord(bandwidthClasses)) throw new NetworkConfigError('network.bandwidthClasses', 'not an object')
    for (const [name, bandwidth] of Object.entries(bandwidthClasses)) {
      const path = `network.bandwidthClasses.${name}`
      if (!isRecord(bandwidth)) throw new NetworkConfigError(path, 'not an object')
      for (const key of ['upBps', 'downBps'] as const) {
        const value = bandwidth[key]
        if (!(isNonNegative(value) && value > 0)) throw new NetworkConfigError(`${path}.${key}`, 'need a number > 0')
      }
    }
  }
  return config as unknown as NetworkConfig
}

const pairKey = (a: string, b: string): string => `${a}\u0000${b}`

/**
 * The network a swarm's shaped transports share: delays by region pair, partitions, and the stats of the delays
 * applied. Build one per swarm and pass it to every node's `shapedTransport({ network, region })`.
 *
 * @example
 * ```ts
 * const network = new NetworkModel(GOSSIPSUB_INTEROP_8_REGIONS, createRandom(42).next)
 * network.oneWayDelayMs('europe', 'na_east') // 35
 * ```
 */
export class NetworkModel {
  readonly config: NetworkConfig
  readonly regions: readonly string[]
  readonly #random: () => number
  readonly #rtt = new Map<string, number>()
  readonly #partitions = new Set<string>()
  readonly #links = new Set<CuttableLink>()
  readonly #stats = new Map<string, StatsAccumulator>()
  readonly #jitterMs: number
  readonly #loss: number

  /** `random` draws jitter and loss; the default is a fixed seed, so two runs of the same swarm agree. */
  constructor(config: NetworkConfig, random: () => number = createRandom(0).next) {
    this.config = validateNetworkConfig(config)
    this.regions = config.regions.map((r) => r.name)
    this.#random = random
    this.#jitterMs = config.jitterMs ?? 0
    this.#loss = config.loss ?? 0
    for (const a of this.regions) {
      for (const b of this.regions) {
        this.#rtt.set(pairKey(a, b), config.rttMs[a]?.[b] ?? (config.rttMs[b]?.[a] as number))
      }
    }
  }

  /** Throw {@link NetworkConfigError} unless `region` is one of the config's regions; `path` names the caller's field. */
  assertRegion(region: string, path = 'region'): void {
    if (!this.#rtt.has(pairKey(region, region))) throw new NetworkConfigError(path, `unknown region "${region}"`)
  }

  /** The bandwidth class by name; throws {@link NetworkConfigError} for an unknown one. */
  bandwidthClass(name: string, path = 'bandwidthClass'): BandwidthClass {
    const found = this.config.bandwidthClasses?.[name]
    if (found === undefined) throw new NetworkConfigError(path, `unknown bandwidth class "${name}"`)
    return found
  }

  rttMs(fromRegion: string, toRegion: string): number {
    const rtt = this.#rtt.get(pairKey(fromRegion, toRegion))
    if (rtt === undefined) {
      this.assertRegion(fromRegion, 'fromRegion')
      this.assertRegion(toRegion, 'toRegion')
    }
    return rtt as number
  }

  /** The configured one-way delay: half the RTT, without jitter or loss. */
  oneWayDelayMs(fromRegion: string, toRegion: string): number {
    return this.rttMs(fromRegion, toRegion) / 2
  }

  /** One chunk's propagation delay: one-way + uniform jitter + (with probability `loss`) one more RTT. */
  sampleOneWayDelayMs(fromRegion: string, toRegion: string): number {
    const rtt = this.rttMs(fromRegion, toRegion)
    return rtt / 2 + this.sampleExtraDelayMs(rtt)
  }

  /** The random part of a chunk's delay on a link with this RTT: jitter, plus one RTT if the chunk was "lost". */
  sampleExtraDelayMs(rttMs: number): number {
    let extra = 0
    if (this.#jitterMs > 0) extra += this.#random() * this.#jitterMs
    if (this.#loss > 0 && this.#random() < this.#loss) extra += rttMs
    return extra
  }

  /** Cut the network between two regions (either order; the same region twice cuts links inside it). */
  partition(regionA: string, regionB: string): void {
    this.assertRegion(regionA, 'regionA')
    this.assertRegion(regionB, 'regionB')
    this.#partitions.add(pairKey(regionA, regionB))
    this.#partitions.add(pairKey(regionB, regionA))
    for (const link of [...this.#links]) {
      if (this.isPartitioned(link.fromRegion, link.toRegion)) {
        link.cut(new NetworkPartitionedError(`Cable cut between ${link.fromRegion} and ${link.toRegion}`))
      }
    }
  }

  heal(regionA: string, regionB: string): void {
    this.#partitions.delete(pairKey(regionA, regionB))
    this.#partitions.delete(pairKey(regionB, regionA))
  }

  isPartitioned(regionA: string, regionB: string): boolean {
    return this.#partitions.size > 0 && this.#partitions.has(pairKey(regionA, regionB))
  }

  /** Track an open connection so a partition can cut it; {@link untrackLink} when it ends. */
  trackLink(link: CuttableLink): void {
    this.#links.add(link)
  }

  untrackLink(link: CuttableLink): void {
    this.#links.delete(link)
  }

  /** Open connections tracked now (all nodes, both directions count once). */
  get openLinks(): number {
    return this.#links.size
  }

  /** The counters for traffic from one region to another; a link holds it so a chunk costs no lookup. */
  statsFor(fromRegion: string, toRegion: string): LinkStatsAccumulator {
    const key = pairKey(fromRegion, toRegion)
    let stats = this.#stats.get(key)
    if (stats === undefined) {
      stats = new StatsAccumulator(fromRegion, toRegion)
      this.#stats.set(key, stats)
    }
    return stats
  }

  /** Configured against applied delays, per region pair that carried traffic. */
  linkStats(): LinkStats[] {
    return [...this.#stats.values()]
      .filter((s) => s.chunks > 0)
      .map((s) => {
        const sorted = [...s.recent].sort((x, y) => x - y)
        const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
        const mean = (sum: number): number => (s.samples === 0 ? 0 : sum / s.samples)
        return {
          from: s.from,
          to: s.to,
          configuredOneWayMs: this.oneWayDelayMs(s.from, s.to),
          chunks: s.chunks,
          bytes: s.bytes,
          samples: s.samples,
          meanScheduledMs: mean(s.sumScheduled),
          meanActualMs: mean(s.sumActual),
          p50ActualMs: at(0.5),
          p99ActualMs: at(0.99),
          meanLatenessMs: mean(s.sumLateness),
          maxLatenessMs: s.maxLateness,
        }
      })
  }
}

/**
 * The 8 regions, node weights, latencies and node classes of libp2p/test-plans gossipsub-interop's Shadow setup
 * (`gossipsub-interop/network_graph.py`), with its numbers. Two differences, on purpose: Shadow applies an edge's
 * `latency` in each direction (so its RTTs are twice these), while here they are RTTs, which is what they match
 * as public measurements (Europe-NA East ~70 ms, Australia-South Africa ~220 ms); and its one asymmetric pair
 * (south_africa->south_america 190 ms, back 195 ms) is 190 both ways. Bandwidth: its `supernode` (1024 Mbit/s up
 * and down, 20% of nodes) and `fullnode` (50 Mbit/s, 80%) classes.
 */
export const GOSSIPSUB_INTEROP_8_REGIONS: NetworkConfig = {
  regions: [
    { name: 'australia', weight: 290 },
    { name: 'europe', weight: 5599 },
    { name: 'east_asia', weight: 1059 },
    { name: 'west_asia', weight: 161 },
    { name: 'na_east', weight: 2894 },
    { name: 'na_west', weight: 1240 },
    { name: 'south_africa', weight: 47 },
    { name: 'south_america', weight: 36 },
  ],
  rttMs: {
    australia: {
      australia: 2,
      east_asia: 110,
      europe: 165,
      na_west: 110,
      na_east: 150,
      south_america: 190,
      south_africa: 220,
      west_asia: 180,
    },
    east_asia: {
      east_asia: 4,
      europe: 125,
      na_west: 100,
      na_east: 140,
      south_america: 175,
      south_africa: 175,
      west_asia: 110,
    },
    europe: { europe: 2, na_west: 110, na_east: 70, south_america: 140, south_africa: 95, west_asia: 60 },
    na_west: { na_west: 2, na_east: 60, south_america: 100, south_africa: 160, west_asia: 150 },
    na_east: { na_east: 2, south_america: 100, south_africa: 130, west_asia: 110 },
    south_america: { south_america: 7, south_africa: 190, west_asia: 145 },
    south_africa: { south_africa: 7, west_asia: 110 },
    west_asia: { west_asia: 5 },
  },
  bandwidthClasses: {
    supernode: { upBps: 1_024_000_000, downBps: 1_024_000_000 },
    fullnode: { upBps: 50_000_000, downBps: 50_000_000 },
  },
}
