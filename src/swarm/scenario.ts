import { readFile } from 'node:fs/promises'
import { ParkbenchError } from '../errors.js'

/**
 * A swarm scenario: who takes part, the network between them, what goes wrong, what the renters ask for, and for
 * how long. JSON on disk; {@link parseScenario} fills in defaults and names the first bad field. With its `seed` it
 * fixes the whole schedule of joins, faults and requests ({@link buildSchedule}).
 */
export interface Scenario {
  name: string
  description: string
  seed: number
  /** Seconds from the first node's start to the end of the workload (settlement and the audit come after). */
  durationS: number
  network: ScenarioNetwork
  nodes: ScenarioNodes
  churn: ScenarioChurn
  workload: ScenarioWorkload
  /** How often the run samples its time series, ms. */
  sampleEveryMs: number
}

export interface ScenarioNetwork {
  /** A shipped region matrix (`gossipsub-interop-8`, `single-region`), or `custom` with `regions` and `rttMs`. */
  preset: string
  /** For `custom`: region names and the share of nodes in each. */
  regions?: Array<{ name: string; weight: number }>
  /** For `custom`: round-trip times between regions, ms (symmetric; same-region entries are intra-region). */
  rttMs?: Record<string, Record<string, number>>
  jitterMs: number
  /** Chance that a chunk is delayed one extra round trip (a reliable stream's view of loss). */
  loss: number
  /** Bandwidth classes, bits per second. */
  bandwidthClasses: Record<string, { upBps: number; downBps: number }>
}

/** A weighted choice: `{ "home": 3, "fibre": 1 }` picks home 3 times in 4. */
export type Weights = Record<string, number>

export interface ScenarioNodes {
  providers: {
    count: number
    /** Price per second in token base units, drawn uniformly from [min, max]. */
    pricePerSecond: { min: bigint; max: bigint }
    threads: Weights
    /** Which of the workload's models each provider holds: each model with this probability (at least one). */
    modelShare: number
    bandwidth: Weights
  }
  renters: { count: number; bandwidth: Weights }
  /** Relays are accepted for the schema's sake; an in-process run has no NAT to relay around (issue "Reach"). */
  relays: { count: number }
  hostile: {
    /** Providers that return wrong results (and are paid like any other: results are not verified yet). */
    wrongResultProviders: number
    /** Peers that send garbage frames on every protocol to random providers. */
    garbagePeers: number
    /** Renters that ask for inference without a lease or payment. */
    freeloaders: number
    /** Peers that advertise offers that do not verify. */
    badOfferPeers: number
  }
}

export interface ScenarioChurn {
  /** Providers joining (new ones) and leaving cleanly, per minute, after the ramp. */
  joinsPerMin: number
  leavesPerMin: number
  /** Providers killed mid-lease (no END, no goodbye), per minute. */
  killsPerMin: number
  /** Renters that crash (their leases end without END), per minute. */
  renterCrashesPerMin: number
  /** Cuts between two regions: from `atS` for `forS` seconds. */
  partitions: Array<{ atS: number; forS: number; between: [string, string] }>
  /** Seconds over which the initial nodes start. */
  rampS: number
}

export interface ScenarioWorkload {
  /** Models by built-in name with the share of requests each gets. See {@link BUILTIN_MODEL_NAMES}. */
  models: Weights
  /** Requests per minute per renter (Poisson). */
  requestsPerMinPerRenter: number
  /** Seconds a lease commitment covers before renewal. */
  leaseSeconds: number
  /** A renter's price ceiling per second. */
  maxPricePerSecond: bigint
  /** A renter's channel deposit per provider. */
  deposit: bigint
  /** Give up on a request after this long, ms. */
  requestTimeoutMs: number
}

/** The workload models the swarm builds itself (src/swarm/models.ts). */
export const BUILTIN_MODEL_NAMES = ['add', 'matmul-16', 'matmul-64'] as const

/** The shipped latency presets (src/swarm/network.ts has their matrices). */
export const NETWORK_PRESETS = ['gossipsub-interop-8', 'single-region', 'custom'] as const

/** A scenario that does not parse or validate; the message names the field. */
export class ScenarioError extends ParkbenchError {
  static override name = 'ScenarioError'
  constructor(
    /** The field, e.g. `nodes.providers.count`. */
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`, 'SCENARIO_INVALID')
  }
}

type Json = Record<string, unknown>

class Reader {
  constructor(
    private readonly value: Json,
    private readonly path: string,
  ) {}

  private at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`
  }

  known(keys: string[]): void {
    for (const key of Object.keys(this.value)) {
      if (!keys.includes(key)) throw new ScenarioError(this.at(key), `unknown field (known: ${keys.join(', ')})`)
    }
  }

  object(key: string): Reader {
    const v = this.value[key] ?? {}
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ScenarioError(this.at(key), 'not an object')
    return new Reader(v as Json, this.at(key))
  }

  raw(key: string): unknown {
    return this.value[key]
  }

  string(key: string, fallback?: string): string {
    const v = this.value[key] ?? fallback
    if (typeof v !== 'string') throw new ScenarioError(this.at(key), v === undefined ? 'missing' : 'not a string')
    return v
  }

  number(key: string, fallback: number | undefined, min: number, max: number, integer = false): number {
    const v = this.value[key] ?? fallback
    if (v === undefined) throw new ScenarioError(this.at(key), 'missing')
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ScenarioError(this.at(key), 'not a number')
    if (integer && !Number.isInteger(v)) throw new ScenarioError(this.at(key), 'not an integer')
    if (v < min || v > max) throw new ScenarioError(this.at(key), `${v} is outside [${min}, ${max}]`)
    return v
  }

  amount(key: string, fallback?: bigint): bigint {
    const v = this.value[key]
    if (v === undefined && fallback !== undefined) return fallback
    if (typeof v === 'string' && /^\d{1,60}$/.test(v)) return BigInt(v)
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
    throw new ScenarioError(
      this.at(key),
      v === undefined ? 'missing' : 'not an amount (a decimal string of base units)',
    )
  }

  weights(key: string, fallback: Weights, allowed?: readonly string[]): Weights {
    const v = this.value[key] ?? fallback
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ScenarioError(this.at(key), 'not an object')
    const out: Weights = {}
    for (const [name, weight] of Object.entries(v)) {
      if (allowed !== undefined && !allowed.includes(name)) {
        throw new ScenarioError(`${this.at(key)}.${name}`, `unknown (known: ${allowed.join(', ')})`)
      }
      if (typeof weight !== 'number' || !(weight >= 0) || !Number.isFinite(weight)) {
        throw new ScenarioError(`${this.at(key)}.${name}`, 'not a weight >= 0')
      }
      out[name] = weight
    }
    if (Object.values(out).reduce((a, b) => a + b, 0) <= 0) throw new ScenarioError(this.at(key), 'no positive weight')
    return out
  }
}

const MINUTE_RATE_MAX = 10_000

function parseNetwork(r: Reader): ScenarioNetwork {
  r.known(['preset', 'regions', 'rttMs', 'jitterMs', 'loss', 'bandwidthClasses'])
  const preset = r.string('preset', 'gossipsub-interop-8')
  if (!(NETWORK_PRESETS as readonly string[]).includes(preset)) {
    throw new ScenarioError('network.preset', `unknown preset "${preset}" (known: ${NETWORK_PRESETS.join(', ')})`)
  }
  const out: ScenarioNetwork = {
    preset,
    jitterMs: r.number('jitterMs', 0, 0, 10_000),
    loss: r.number('loss', 0, 0, 0.5),
    bandwidthClasses: {},
  }
  const classes = r.object('bandwidthClasses')
  const raw = r.raw('bandwidthClasses') as Json | undefined
  for (const name of Object.keys(raw ?? {})) {
    const c = classes.object(name)
    c.known(['upBps', 'downBps'])
    out.bandwidthClasses[name] = {
      upBps: c.number('upBps', undefined, 1_000, 1e12),
      downBps: c.number('downBps', undefined, 1_000, 1e12),
    }
  }
  if (out.bandwidthClasses.default === undefined) {
    out.bandwidthClasses.default = { upBps: 1e9, downBps: 1e9 }
  }
  if (preset === 'custom') {
    const regions = r.raw('regions')
    if (!Array.isArray(regions) || regions.length === 0) throw new ScenarioError('network.regions', 'missing')
    out.regions = regions.map((entry, i) => {
      if (typeof entry !== 'object' || entry === null) throw new ScenarioError(`network.regions.${i}`, 'not an object')
      const e = new Reader(entry as Json, `network.regions.${i}`)
      e.known(['name', 'weight'])
      return { name: e.string('name'), weight: e.number('weight', 1, 0, 1e6) }
    })
    const rtt = r.raw('rttMs')
    if (typeof rtt !== 'object' || rtt === null) throw new ScenarioError('network.rttMs', 'missing')
    out.rttMs = rtt as Record<string, Record<string, number>>
  }
  return out
}

function parseNodes(r: Reader, models: Weights): ScenarioNodes {
  r.known(['providers', 'renters', 'relays', 'hostile'])
  const p = r.object('providers')
  p.known(['count', 'pricePerSecond', 'threads', 'modelShare', 'bandwidth'])
  const price = p.object('pricePerSecond')
  price.known(['min', 'max'])
  const min = price.amount('min', 100_000_000_000n)
  const max = price.amount('max', 300_000_000_000n)
  if (max < min) throw new ScenarioError('nodes.providers.pricePerSecond', 'max is below min')
  const threads = p.weights('threads', { '1': 1 })
  for (const t of Object.keys(threads)) {
    if (!/^[1-9]\d?$/.test(t)) throw new ScenarioError(`nodes.providers.threads.${t}`, 'not a thread count 1-99')
  }
  const rt = r.object('renters')
  rt.known(['count', 'bandwidth'])
  const relays = r.object('relays')
  relays.known(['count'])
  const h = r.object('hostile')
  h.known(['wrongResultProviders', 'garbagePeers', 'freeloaders', 'badOfferPeers'])
  void models
  return {
    providers: {
      count: p.number('count', undefined, 1, 100_000, true),
      pricePerSecond: { min, max },
      threads,
      modelShare: p.number('modelShare', 1, 0, 1),
      bandwidth: p.weights('bandwidth', { default: 1 }),
    },
    renters: {
      count: rt.number('count', undefined, 1, 100_000, true),
      bandwidth: rt.weights('bandwidth', { default: 1 }),
    },
    relays: { count: relays.number('count', 0, 0, 10_000, true) },
    hostile: {
      wrongResultProviders: h.number('wrongResultProviders', 0, 0, 10_000, true),
      garbagePeers: h.number('garbagePeers', 0, 0, 10_000, true),
      freeloaders: h.number('freeloaders', 0, 0, 10_000, true),
      badOfferPeers: h.number('badOfferPeers', 0, 0, 10_000, true),
    },
  }
}

function parseChurn(r: Reader, durationS: number): ScenarioChurn {
  r.known(['joinsPerMin', 'leavesPerMin', 'killsPerMin', 'renterCrashesPerMin', 'partitions', 'rampS'])
  const partitions = r.raw('partitions') ?? []
  if (!Array.isArray(partitions)) throw new ScenarioError('churn.partitions', 'not an array')
  return {
    joinsPerMin: r.number('joinsPerMin', 0, 0, MINUTE_RATE_MAX),
    leavesPerMin: r.number('leavesPerMin', 0, 0, MINUTE_RATE_MAX),
    killsPerMin: r.number('killsPerMin', 0, 0, MINUTE_RATE_MAX),
    renterCrashesPerMin: r.number('renterCrashesPerMin', 0, 0, MINUTE_RATE_MAX),
    rampS: r.number('rampS', Math.min(10, durationS / 4), 0, durationS),
    partitions: partitions.map((entry, i) => {
      const path = `churn.partitions.${i}`
      if (typeof entry !== 'object' || entry === null) throw new ScenarioError(path, 'not an object')
      const e = new Reader(entry as Json, path)
      e.known(['atS', 'forS', 'between'])
      const between = e.raw('between')
      if (!Array.isArray(between) || between.length !== 2 || !between.every((b) => typeof b === 'string')) {
        throw new ScenarioError(`${path}.between`, 'not two region names')
      }
      return {
        atS: e.number('atS', undefined, 0, durationS),
        forS: e.number('forS', undefined, 0, 86_400),
        between: [between[0], between[1]] as [string, string],
      }
    }),
  }
}

function parseWorkload(r: Reader): ScenarioWorkload {
  r.known(['models', 'requestsPerMinPerRenter', 'leaseSeconds', 'maxPricePerSecond', 'deposit', 'requestTimeoutMs'])
  const leaseSeconds = r.number('leaseSeconds', 30, 2, 3600, true)
  const maxPricePerSecond = r.amount('maxPricePerSecond', 1_000_000_000_000n)
  return {
    models: r.weights('models', { add: 1 }, BUILTIN_MODEL_NAMES),
    requestsPerMinPerRenter: r.number('requestsPerMinPerRenter', 30, 0, MINUTE_RATE_MAX),
    leaseSeconds,
    maxPricePerSecond,
    deposit: r.amount('deposit', maxPricePerSecond * BigInt(leaseSeconds) * 10n),
    requestTimeoutMs: r.number('requestTimeoutMs', 20_000, 100, 600_000),
  }
}

/** Validate a scenario's JSON value and fill in its defaults; throws {@link ScenarioError} naming the field. */
export function parseScenario(value: unknown): Scenario {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ScenarioError('(scenario)', 'not a JSON object')
  }
  const r = new Reader(value as Json, '')
  r.known(['name', 'description', 'seed', 'durationS', 'network', 'nodes', 'churn', 'workload', 'sampleEveryMs'])
  const durationS = r.number('durationS', undefined, 1, 7 * 86_400)
  const workload = parseWorkload(r.object('workload'))
  const scenario: Scenario = {
    name: r.string('name'),
    description: r.string('description', ''),
    seed: r.number('seed', undefined, 0, 2 ** 32 - 1, true),
    durationS,
    network: parseNetwork(r.object('network')),
    nodes: parseNodes(r.object('nodes'), workload.models),
    churn: parseChurn(r.object('churn'), durationS),
    workload,
    sampleEveryMs: r.number('sampleEveryMs', 1000, 100, 60_000, true),
  }
  if (scenario.nodes.hostile.wrongResultProviders > scenario.nodes.providers.count) {
    throw new ScenarioError('nodes.hostile.wrongResultProviders', 'more than nodes.providers.count')
  }
  return scenario
}

/** Read and validate a scenario file; a file that is not JSON is a {@link ScenarioError} too. */
export async function readScenario(path: string): Promise<Scenario> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ScenarioError(path, `cannot read: ${(err as Error).message}`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ScenarioError(path, `not JSON: ${(err as Error).message}`)
  }
  return parseScenario(value)
}

/** The scenario as JSON (amounts as decimal strings): what a report embeds to reproduce the run. */
export function scenarioJson(scenario: Scenario): unknown {
  return JSON.parse(JSON.stringify(scenario, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)))
}
