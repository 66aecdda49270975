import { InvalidReportError } from './errors.js'
import { FIRST_PAID_PHASES } from './phases.js'
import type { SwarmReport } from './report-types.js'

type Fields = Record<string, unknown>

function fail(path: string, what: string): never {
  throw new InvalidReportError(`report.json: ${path} is not ${what}`)
}

function record(value: unknown, path: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object')
  return value as Fields
}

function number(value: unknown, path: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'a number')
}

function numberOrNull(value: unknown, path: string): void {
  if (value !== null) number(value, path)
}

function string(value: unknown, path: string): void {
  if (typeof value !== 'string') fail(path, 'a string')
}

function boolean(value: unknown, path: string): void {
  if (typeof value !== 'boolean') fail(path, 'true or false')
}

/** Money is a decimal string of base units: JSON has no bigint, and a float would lose wei. */
function wei(value: unknown, path: string): void {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]*)$/.test(value)) fail(path, 'a decimal string of wei')
}

function array(value: unknown, path: string, each: (item: unknown, path: string) => void): unknown[] {
  if (!Array.isArray(value)) fail(path, 'an array')
  value.forEach((item, i) => {
    each(item, `${path}[${i}]`)
  })
  return value
}

function fields(value: unknown, path: string, checks: Record<string, (v: unknown, path: string) => void>): Fields {
  const object = record(value, path)
  for (const [key, check] of Object.entries(checks)) check(object[key], `${path}.${key}`)
  return object
}

function counts(value: unknown, path: string): void {
  for (const [key, count] of Object.entries(record(value, path))) number(count, `${path}.${key}`)
}

function distribution(value: unknown, path: string): void {
  fields(value, path, {
    count: number,
    p50: numberOrNull,
    p95: numberOrNull,
    p99: numberOrNull,
    max: numberOrNull,
    cdf: (cdf, at) =>
      array(cdf, at, (point, pointAt) => {
        if (!Array.isArray(point) || point.length !== 2) fail(pointAt, 'a [value, fraction] pair')
        number(point[0], `${pointAt}[0]`)
        number(point[1], `${pointAt}[1]`)
      }),
  })
}

const SERIES_NUMBERS = ['nodesOnline', 'activeLeases', 'paymentsPerSecond', 'rssBytes'] as const
const SERIES_WEI = ['valueAtRiskProviders', 'valueAtRiskRenters'] as const
const AMOUNTS = ['deposited', 'authorised', 'acknowledged', 'settled', 'refunded', 'held'] as const

function series(value: unknown, path: string): void {
  const object = record(value, path)
  const times = array(object['tMs'], `${path}.tMs`, number)
  for (const key of [...SERIES_NUMBERS, ...SERIES_WEI]) {
    const values = array(object[key], `${path}.${key}`, SERIES_WEI.includes(key as never) ? wei : number)
    if (values.length !== times.length) fail(`${path}.${key}`, `as long as ${path}.tMs (${times.length})`)
  }
}

function money(value: unknown, path: string): void {
  const amounts = Object.fromEntries(AMOUNTS.map((key) => [key, wei]))
  fields(value, path, {
    channels: (channels, at) =>
      array(channels, at, (channel, channelAt) =>
        fields(channel, channelAt, { channelId: string, renter: string, provider: string, ok: boolean, ...amounts }),
      ),
    total: (total, at) => fields(total, at, amounts),
    conserved: boolean,
  })
}

/**
 * Check that a parsed report.json has the shape of a `SwarmReport` (version 1), so the renderer and the CLI can
 * rely on it. Throws `InvalidReportError` naming the first field that is wrong.
 */
export function parseReport(value: unknown): SwarmReport {
  const top = record(value, 'report')
  if (top['version'] !== 1) fail('report.version', '1 (the only report version this parkbench reads)')
  fields(top, 'report', {
    seed: number,
    part: (part, at) => {
      if (part !== null) fields(part, at, { index: number, count: number })
    },
    mode: (mode, at) => {
      if (mode !== 'in-process' && mode !== 'multi-process') fail(at, "'in-process' or 'multi-process'")
    },
    substitutions: (list, at) => array(list, at, string),
    startedAt: string,
    durationMs: number,
    ok: boolean,
    invariants: (list, at) =>
      array(list, at, (invariant, itemAt) => fields(invariant, itemAt, { name: string, ok: boolean, detail: string })),
    nodes: (nodes, at) =>
      fields(
        nodes,
        at,
        Object.fromEntries(
          ['providers', 'renters', 'hostile', 'relays', 'peak', 'joined', 'left', 'killed'].map((k) => [k, number]),
        ),
      ),
    timeToFirstOfferMs: distribution,
    timeToFirstPaidResultMs: distribution,
    timeToFirstPaidResultPhasesMs: (phases, at) => {
      if (phases === undefined) return
      fields(phases, at, Object.fromEntries(FIRST_PAID_PHASES.map((k) => [k, distribution])))
    },
    inferLatencyMs: distribution,
    lookups: (lookups, at) =>
      fields(lookups, at, { attempts: number, succeeded: number, within2s: number, successRate: numberOrNull }),
    requests: (requests, at) => fields(requests, at, { sent: number, served: number, failed: number }),
    leases: (leases, at) =>
      fields(leases, at, { started: number, ended: number, perSecond: number, byEndReason: counts }),
    failovers: number,
    payments: (payments, at) => fields(payments, at, { ticks: number, perSecond: number }),
    failures: counts,
    series,
    money,
    latency: (latency, at) =>
      fields(latency, at, {
        pairs: (pairs, pairsAt) =>
          array(pairs, pairsAt, (pair, pairAt) =>
            fields(pair, pairAt, {
              from: string,
              to: string,
              configuredRttMs: number,
              measuredRttP50Ms: numberOrNull,
              measuredRttP95Ms: numberOrNull,
              samples: number,
            }),
          ),
      }),
    resources: (resources, at) =>
      fields(resources, at, {
        rssBytesPerNode: numberOrNull,
        cpuMsPerNodeSecond: numberOrNull,
        eventLoopP99Ms: numberOrNull,
        nodeFlags: (v, p) => {
          if (v !== undefined) array(v, p, string)
        },
      }),
    hostile: (hostile, at) =>
      fields(hostile, at, {
        wrongResultProviders: number,
        wrongResultsServed: number,
        wrongResultEarned: wei,
        freeJobs: number,
      }),
  })
  if (!('scenario' in top)) fail('report.scenario', 'present')
  return top as unknown as SwarmReport
}
