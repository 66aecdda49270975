import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { writeFileDurable } from '../atomic-file.js'
import { ParkbenchError } from '../errors.js'
import { toJson } from '../json.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { type Scenario, scenarioJson } from './scenario.js'
import type { Schedule, ScheduleEvent } from './schedule.js'

/**
 * One scenario split across hosts (`parkbench swarm run --part k/n`). Every part builds the same schedule from the
 * seed and runs the members whose index in `schedule.nodes` is k - 1 mod n: round robin rather than contiguous
 * slices, so that each part gets its share of providers, renters, hostile peers and of the providers that join
 * late (they are appended to the node list in the order they join).
 */
export interface SwarmPart {
  /** 1-based. */
  index: number
  count: number
}

/** `--part k/n` that is not two integers with 1 <= k <= n, or a part run that lacks what it needs. */
export class SwarmPartError extends ParkbenchError {
  static override name = 'SwarmPartError'
  constructor(message = 'Invalid --part', options: ErrorOptions = {}) {
    super(message, 'SWARM_PART_INVALID', options)
  }
}

/** The most parts a scenario may be split into (one node each at the least). */
export const MAX_PARTS = 1000

/** Parse `k/n`. */
export function parsePart(text: string): SwarmPart {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim())
  if (match === null) throw new SwarmPartError(`--part takes k/n (e.g. 1/2), not ${text}`)
  const index = Number(match[1])
  const count = Number(match[2])
  if (count < 1 || count > MAX_PARTS) throw new SwarmPartError(`--part ${text}: n must be 1 to ${MAX_PARTS}`)
  if (index < 1 || index > count) throw new SwarmPartError(`--part ${text}: k must be 1 to n (${count})`)
  return { index, count }
}

/** The part (1-based) that runs the node at `nodeIndex` of `schedule.nodes`. */
export function partOfNode(nodeIndex: number, count: number): number {
  return (nodeIndex % count) + 1
}

/**
 * Which part carries out an event: the part of the node it is about (a start, kill, request, lookup, or a hostile
 * peer's attack, whoever its target), or every part (`'all'`) for partitions and heals, which each part applies
 * to the connections its own members dial.
 */
export function partOfEvent(event: ScheduleEvent, partOf: ReadonlyMap<string, number>): number | 'all' {
  if (!('node' in event)) return 'all'
  const part = partOf.get(event.node)
  if (part === undefined) throw new SwarmPartError(`the schedule has an event for an unknown node ${event.node}`)
  return part
}

/** Each node's part, by id. */
export function nodeParts(schedule: Schedule, count: number): Map<string, number> {
  return new Map(schedule.nodes.map((n, i) => [n.id, partOfNode(i, count)]))
}

/**
 * The share of the schedule part `k` carries out: its own nodes, and the events about them plus the partitions.
 * The node list keeps every node (all parts need every node's port and region); `owned` says which are its own.
 */
export function splitSchedule(schedule: Schedule, part: SwarmPart): Schedule & { owned: Set<string> } {
  const partOf = nodeParts(schedule, part.count)
  const owned = new Set([...partOf].filter(([, k]) => k === part.index).map(([id]) => id))
  const events = schedule.events.filter((e) => {
    const k = partOfEvent(e, partOf)
    return k === 'all' || k === part.index
  })
  return { seed: schedule.seed, nodes: schedule.nodes, events, owned }
}

/**
 * What part 1 writes to `<out>/part.json` and every other part reads (`--join FILE`): the chain every part pays
 * on, the bootstrap node's addresses, the first port of the run's port range and the wall-clock time the
 * schedule's clock starts. Copy it to the other hosts as it is.
 */
export interface PartPlan {
  version: 1
  /** The scenario's name and seed, and the part count, so that a part of another run is refused. */
  scenario: string
  seed: number
  count: number
  /** sha256 of the scenario as run (overrides such as --duration included): every part must run the same one. */
  scenarioSha256: string
  chain: ChainConfig & { deployBlock: number }
  bootstrap: string[]
  /** The bootstrap node listens on `portBase`, node i of the schedule on `portBase + 1 + i`, on every host. */
  portBase: number
  /** ISO 8601: when t = 0 of the schedule is, on every host's clock. */
  startAt: string
}

/** The file name part 1 writes into its --out folder. */
export const PART_PLAN_FILE = 'part.json'

export async function writePartPlan(file: string, plan: PartPlan): Promise<void> {
  await writeFileDurable(file, `${toJson(plan)}\n`, 0o644)
}

/** Read a part plan, refusing one of another scenario, seed or part count. */
export async function readPartPlan(
  file: string,
  expect: { scenario: string; seed: number; count: number; scenarioSha256: string },
): Promise<PartPlan> {
  let plan: PartPlan
  try {
    plan = JSON.parse(await readFile(file, 'utf8')) as PartPlan
  } catch (err) {
    throw new SwarmPartError(`Cannot read the part plan ${file}: ${(err as Error).message}`, { cause: err })
  }
  if (plan?.version !== 1 || typeof plan.chain?.rpcUrl !== 'string' || !Array.isArray(plan.bootstrap)) {
    throw new SwarmPartError(`${file} is not a part plan (part 1 writes one as ${PART_PLAN_FILE} in its --out)`)
  }
  if (Number.isNaN(Date.parse(plan.startAt)) || !Number.isSafeInteger(plan.portBase)) {
    throw new SwarmPartError(`${file}: startAt or portBase is missing`)
  }
  for (const key of ['scenario', 'seed', 'count'] as const) {
    if (plan[key] !== expect[key]) {
      throw new SwarmPartError(`${file} is for ${key} ${plan[key]}, this part runs ${key} ${expect[key]}`)
    }
  }
  if (plan.scenarioSha256 !== expect.scenarioSha256) {
    throw new SwarmPartError(
      `${file} is for another version of scenario ${plan.scenario}: every part needs the same file and the same --seed and --duration`,
    )
  }
  return plan
}

/** What the parts compare to know they run the same scenario: a hash of it as run, defaults and overrides in. */
export function scenarioSha256(scenario: Scenario): string {
  return createHash('sha256')
    .update(JSON.stringify(scenarioJson(scenario)))
    .digest('hex')
}
