import { createRandom, type Random } from './random.js'
import type { Scenario, Weights } from './scenario.js'

/** One node of the swarm as the schedule made it. */
export interface NodeSpec {
  /** `p12` (provider), `r3` (renter), `g0` (garbage peer), `f0` (freeloader), `b0` (bad-offer peer). */
  id: string
  role: 'provider' | 'renter' | 'garbage' | 'freeloader' | 'bad-offer'
  region: string
  bandwidth: string
  /** Providers: price per second, threads, the models held, and whether it returns wrong results. */
  pricePerSecond?: bigint
  threads?: number
  models?: string[]
  wrongResults?: boolean
}

/** What happens at `t` ms from the run's start. */
export type ScheduleEvent =
  | { t: number; kind: 'start'; node: string }
  /** A provider leaves cleanly: its leases end with END and it settles. */
  | { t: number; kind: 'leave'; node: string }
  /** A provider or renter dies at once: its connections drop, nothing is sent, its state is what it last wrote. */
  | { t: number; kind: 'kill'; node: string }
  /** A killed renter comes back on its data dir (its channels and payment state recovered). */
  | { t: number; kind: 'restart'; node: string }
  | { t: number; kind: 'partition' | 'heal'; between: [string, string] }
  /** A renter's request: a model and which of its deterministic inputs. */
  | { t: number; kind: 'request'; node: string; model: string; input: number }
  /** A renter looks a model up on the DHT (time to the first verified offer). */
  | { t: number; kind: 'lookup'; node: string; model: string }
  /** A hostile peer's move against one provider. */
  | { t: number; kind: 'attack'; node: string; target: string }

export interface Schedule {
  seed: number
  nodes: NodeSpec[]
  events: ScheduleEvent[]
}

/** Inputs per model a renter draws from (so results can be checked against a reference computed once each). */
export const INPUTS_PER_MODEL = 8

/** A renter that was killed comes back this long after. */
export const RESTART_AFTER_MS = 5_000

/** A renter looks a model up this often. */
export const LOOKUP_EVERY_MS = 10_000

/** A hostile peer acts about this often. */
const ATTACK_EVERY_MS = 2_000

function pickWeighted(random: Random, weights: Weights): string {
  return random.weighted(Object.keys(weights), (k) => weights[k]!)
}

/** Poisson arrival times at `perMin` from `from` to `to` ms. */
function arrivals(random: Random, perMin: number, from: number, to: number): number[] {
  const out: number[] = []
  if (perMin <= 0) return out
  const mean = 60_000 / perMin
  for (let t = from + random.exponential(mean); t < to; t += random.exponential(mean)) out.push(Math.round(t))
  return out
}

/**
 * The whole run decided up front from the scenario and its seed: every node (region, bandwidth, price, models),
 * when it starts, leaves or dies, every partition, every request and every attack. The runner only carries it
 * out, so the same seed gives the same schedule, whatever the machine does. Each part of the schedule draws from
 * its own stream (`fork`), so changing the churn leaves the requests where they were.
 */
export function buildSchedule(scenario: Scenario, regions: Array<{ name: string; weight: number }>): Schedule {
  const root = createRandom(scenario.seed)
  const place = root.fork('placement')
  const durationMs = scenario.durationS * 1000
  const rampMs = scenario.churn.rampS * 1000
  const models = Object.keys(scenario.workload.models)
  const { providers, renters, hostile } = scenario.nodes
  const region = (): string => place.weighted(regions, (r) => r.weight).name

  const nodes: NodeSpec[] = []
  const provider = (index: number, wrongResults: boolean): NodeSpec => {
    const { min, max } = providers.pricePerSecond
    const span = Number(max - min)
    const held = models.filter(() => place.next() < providers.modelShare)
    return {
      id: `p${index}`,
      role: 'provider',
      region: region(),
      bandwidth: pickWeighted(place, providers.bandwidth),
      pricePerSecond: min + BigInt(Math.round(place.next() * span)),
      threads: Number(pickWeighted(place, providers.threads)),
      models: held.length > 0 ? held : [place.pick(models)],
      wrongResults,
    }
  }
  const wrong = new Set<number>()
  while (wrong.size < hostile.wrongResultProviders) wrong.add(place.int(0, providers.count - 1))
  for (let i = 0; i < providers.count; i++) nodes.push(provider(i, wrong.has(i)))
  for (let i = 0; i < renters.count; i++) {
    nodes.push({ id: `r${i}`, role: 'renter', region: region(), bandwidth: pickWeighted(place, renters.bandwidth) })
  }
  const hostileRoles = [
    ['g', 'garbage', hostile.garbagePeers],
    ['f', 'freeloader', hostile.freeloaders],
    ['b', 'bad-offer', hostile.badOfferPeers],
  ] as const
  for (const [prefix, role, count] of hostileRoles) {
    for (let i = 0; i < count; i++) nodes.push({ id: `${prefix}${i}`, role, region: region(), bandwidth: 'default' })
  }

  // Starts: providers in the first half of the ramp, renters and hostile peers in the second.
  const events: ScheduleEvent[] = []
  const start = root.fork('starts')
  const startAt = new Map<string, number>()
  for (const node of nodes) {
    const t = Math.round(
      node.role === 'provider' ? start.next() * (rampMs / 2) : rampMs / 2 + start.next() * (rampMs / 2),
    )
    startAt.set(node.id, t)
    events.push({ t, kind: 'start', node: node.id })
  }

  // Churn after the ramp: joins add new providers; leaves and kills take one that is online at that moment.
  const churn = root.fork('churn')
  const online = new Set(nodes.filter((n) => n.role === 'provider').map((n) => n.id))
  const changes: Array<{ t: number; what: 'join' | 'leave' | 'kill' | 'renter-kill' }> = [
    ...arrivals(root.fork('joins'), scenario.churn.joinsPerMin, rampMs, durationMs).map((t) => ({
      t,
      what: 'join' as const,
    })),
    ...arrivals(root.fork('leaves'), scenario.churn.leavesPerMin, rampMs, durationMs).map((t) => ({
      t,
      what: 'leave' as const,
    })),
    ...arrivals(root.fork('kills'), scenario.churn.killsPerMin, rampMs, durationMs).map((t) => ({
      t,
      what: 'kill' as const,
    })),
    ...arrivals(root.fork('renter-kills'), scenario.churn.renterCrashesPerMin, rampMs, durationMs).map((t) => ({
      t,
      what: 'renter-kill' as const,
    })),
  ].sort((a, b) => a.t - b.t || a.what.localeCompare(b.what))
  let nextProvider = providers.count
  const renterDown = new Map<string, number>()
  for (const change of changes) {
    if (change.what === 'join') {
      const spec = provider(nextProvider++, false)
      nodes.push(spec)
      online.add(spec.id)
      startAt.set(spec.id, change.t)
      events.push({ t: change.t, kind: 'start', node: spec.id })
    } else if (change.what === 'renter-kill') {
      const up = nodes.filter((n) => n.role === 'renter' && (renterDown.get(n.id) ?? -1) < change.t)
      if (up.length === 0) continue
      const victim = churn.pick(up).id
      renterDown.set(victim, change.t + RESTART_AFTER_MS)
      events.push({ t: change.t, kind: 'kill', node: victim })
      // Past the end, the run's own end brings it back to read its books.
      if (change.t + RESTART_AFTER_MS < durationMs) {
        events.push({ t: change.t + RESTART_AFTER_MS, kind: 'restart', node: victim })
      }
    } else {
      // Keep at least one provider: a market of none measures nothing.
      if (online.size <= 1) continue
      const victim = churn.pick([...online].sort())
      online.delete(victim)
      events.push({ t: change.t, kind: change.what, node: victim })
    }
  }

  for (const p of scenario.churn.partitions) {
    events.push({ t: p.atS * 1000, kind: 'partition', between: p.between })
    events.push({ t: (p.atS + p.forS) * 1000, kind: 'heal', between: p.between })
  }

  // Requests: each renter's own Poisson stream, skipping the windows it is down.
  for (const node of nodes.filter((n) => n.role === 'renter')) {
    const work = root.fork(`requests:${node.id}`)
    const from = startAt.get(node.id) ?? 0
    const down = events.filter((e) => e.kind === 'kill' && e.node === node.id).map((e) => e.t)
    for (const t of arrivals(work, scenario.workload.requestsPerMinPerRenter, from, durationMs)) {
      const model = pickWeighted(work, scenario.workload.models)
      const input = work.int(0, INPUTS_PER_MODEL - 1)
      if (down.some((d) => t >= d && t < d + RESTART_AFTER_MS)) continue
      events.push({ t, kind: 'request', node: node.id, model, input })
    }
  }

  // Lookups: each renter looks up a model as it starts, then every 10 s while it is up.
  for (const node of nodes.filter((n) => n.role === 'renter')) {
    const look = root.fork(`lookups:${node.id}`)
    const down = events.filter((e) => e.kind === 'kill' && e.node === node.id).map((e) => e.t)
    for (let t = startAt.get(node.id) ?? 0; t < durationMs; t += LOOKUP_EVERY_MS) {
      if (down.some((d) => t >= d && t < d + RESTART_AFTER_MS)) continue
      events.push({ t, kind: 'lookup', node: node.id, model: pickWeighted(look, scenario.workload.models) })
    }
  }

  // Attacks: every hostile peer acts every ~2 s against a provider online then (by the schedule's own account).
  const lifetime = new Map<string, [number, number]>()
  for (const n of nodes.filter((x) => x.role === 'provider')) {
    const end = events.find((e) => (e.kind === 'leave' || e.kind === 'kill') && e.node === n.id)?.t ?? durationMs
    lifetime.set(n.id, [startAt.get(n.id) ?? 0, end])
  }
  for (const node of nodes.filter((n) => n.role === 'garbage' || n.role === 'freeloader' || n.role === 'bad-offer')) {
    if (node.role === 'bad-offer') continue // it advertises; it does not attack anyone in particular
    const act = root.fork(`attacks:${node.id}`)
    for (const t of arrivals(act, 60_000 / ATTACK_EVERY_MS, startAt.get(node.id) ?? 0, durationMs)) {
      const up = [...lifetime].filter(([, [s, e]]) => s + 2_000 <= t && t < e).map(([id]) => id)
      if (up.length === 0) continue
      events.push({ t, kind: 'attack', node: node.id, target: act.pick(up.sort()) })
    }
  }

  const order = { start: 0, restart: 1, partition: 2, heal: 3, lookup: 4, request: 5, attack: 6, leave: 7, kill: 8 }
  events.sort((a, b) => a.t - b.t || order[a.kind] - order[b.kind] || nodeOf(a).localeCompare(nodeOf(b)))
  return { seed: scenario.seed, nodes, events }
}

function nodeOf(event: ScheduleEvent): string {
  return 'node' in event ? event.node : event.between.join('-')
}

/** The schedule as JSON text (bigints as strings): what the determinism test compares. */
export function scheduleJson(schedule: Schedule): string {
  return JSON.stringify(schedule, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))
}
