import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { PART_PLAN_FILE, type PartPlan, type SwarmPart, scenarioSha256, writePartPlan } from './part.js'
import type { ChainBarrier, SwarmChain } from './part-chain.js'
import type { SwarmProgressEvent } from './run.js'
import type { Scenario } from './scenario.js'
import type { SwarmWorld } from './world.js'

/** A split run's steps that only parts take: part 1's plan, and the barriers between parts (see part.ts). */

export interface PartRunOptions extends SwarmPart {
  /** Parts 2..n: part 1's plan (its chain, bootstrap, port base and start time). */
  join?: PartPlan
  /** Part 1: pay on this chain instead of starting an anvil. */
  chain?: PartPlan['chain']
  /** Part 1: the run's first port (default: a free range here). */
  portBase?: number
  /** The address this part's nodes listen on; default 127.0.0.1. */
  host?: string
  /** Part 1: how long after its plan is written the schedule starts (the other parts get ready meanwhile). */
  startDelayMs?: number
}

/** Part 1 gives the other parts this long by default to start and join. */
export const DEFAULT_PART_START_DELAY_MS = 30_000

/** How long a part waits for the others at a barrier before it goes on and reports the ones missing. */
export const PART_BARRIER_TIMEOUT_MS = 300_000

/** Part 1's plan: written where the other parts (or whoever copies it to their hosts) read it. */
export async function writePlan(
  part: PartRunOptions,
  scenario: Scenario,
  chain: SwarmChain,
  world: SwarmWorld,
  outDir: string,
  emit: (event: SwarmProgressEvent) => void,
): Promise<PartPlan> {
  const bootstrap = world.hub?.getMultiaddrs().map((a) => a.toString()) ?? []
  const portBase = Number(bootstrap[0]?.split('/tcp/')[1]?.split('/')[0])
  const plan: PartPlan = {
    version: 1,
    scenario: scenario.name,
    scenarioSha256: scenarioSha256(scenario),
    seed: scenario.seed,
    count: part.count,
    chain: chain.config,
    bootstrap,
    portBase,
    startAt: new Date(Date.now() + (part.startDelayMs ?? DEFAULT_PART_START_DELAY_MS)).toISOString(),
  }
  const file = join(outDir, PART_PLAN_FILE)
  await writePartPlan(file, plan)
  emit({ type: 'swarm:plan', file, plan })
  return plan
}

/** Mark a phase on the chain for this part and wait for every other part's mark; the ones missing are crashes. */
export async function passBarrier(
  barrier: ChainBarrier,
  phase: string,
  part: SwarmPart,
  crashes: string[],
  emit: (event: SwarmProgressEvent) => void,
  options: AbortOptions,
): Promise<void> {
  await barrier.mark(phase, part.index, options)
  emit({ type: 'swarm:waiting', phase, parts: part.count })
  const missing = await barrier.wait(phase, PART_BARRIER_TIMEOUT_MS, options)
  if (missing.length > 0) crashes.push(`parts ${missing.join(', ')} did not reach ${phase}`)
}
