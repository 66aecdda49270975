import { join } from 'node:path'
import { WorkerPool } from '../compute/worker-pool.js'
import { createNode } from '../net/create-node.js'
import { corruptingPool, HostilePeer } from './hostile.js'
import { fundedAccount, memberNode, type SwarmContext, SwarmProvider, SwarmRenter, stopQuietly } from './members.js'
import type { SwarmMetrics } from './metrics.js'
import { builtinModels, type SwarmModel } from './models.js'
import type { NetworkModel } from './network.js'
import type { SwarmChain } from './part-chain.js'
import { createRandom } from './random.js'
import { IN_PROCESS_SUBSTITUTIONS } from './report-build.js'
import { LocalMember, type RunMember } from './run-member.js'
import type { Scenario } from './scenario.js'
import type { Schedule } from './schedule.js'
import { Workload } from './workload.js'
import type { SwarmWorld } from './world.js'

export interface LocalWorldInit {
  scenario: Scenario
  schedule: Schedule
  chain: SwarmChain
  network: NetworkModel
  regions: Array<{ name: string; weight: number }>
  metrics: SwarmMetrics
  outDir: string
  now(): number
}

/**
 * Every member in this process on the shaped in-process transport: one worker pool for all providers, a bootstrap
 * node, real daemons, renter clients and hostile peers.
 */
export async function startLocalWorld(init: LocalWorldInit): Promise<SwarmWorld> {
  const { scenario, schedule, chain, network, metrics } = init
  const pool = new WorkerPool({ workers: 1, intraOpThreads: 1, maxQueue: 4096 })
  await pool.start()
  const runTag = `swarm-${scenario.seed}-${process.pid}-${Date.now().toString(36)}`
  const ctx: SwarmContext = {
    scenario,
    chain: chain.config,
    network,
    pool,
    wrongPool: corruptingPool(pool),
    models: modelsOf(scenario),
    bootstrap: [],
    dir: init.outDir,
    metrics,
    now: init.now,
  }
  const hub = await createNode({
    ...memberNode(ctx, { id: 'hub', role: 'provider', region: init.regions[0]!.name, bandwidth: 'default' }, runTag),
    bootstrap: [],
    connections: { maxConnections: 100_000, inboundConnectionThreshold: 100_000 },
  })
  ctx.bootstrap = hub.getMultiaddrs().map((a) => a.toString())
  const workload = new Workload(ctx, join(init.outDir, 'models'))
  try {
    await workload.prepare()
  } catch (err) {
    await stopQuietly(hub)
    await pool.stop()
    throw err
  }
  const attackRandom = createRandom(scenario.seed).fork('attack-bytes')
  const members = new Map<string, RunMember>()
  for (const spec of schedule.nodes) {
    const inner =
      spec.role === 'provider'
        ? { provider: new SwarmProvider(spec, await fundedAccount(chain), ctx, runTag) }
        : spec.role === 'renter'
          ? { renter: new SwarmRenter(spec, await fundedAccount(chain), ctx, runTag) }
          : { hostile: new HostilePeer(spec, ctx, runTag, attackRandom.fork(spec.id)) }
    members.set(spec.id, new LocalMember(inner, workload))
  }
  return {
    mode: 'in-process',
    members,
    hub,
    substitutions: IN_PROCESS_SUBSTITUTIONS,
    partition: (a, b) => network.partition(a, b),
    heal: (a, b) => network.heal(a, b),
    usage: () => ({ rssBytes: process.memoryUsage.rss(), memberCpuMicros: 0 }),
    async close() {
      await stopQuietly(hub)
      await pool.stop()
    },
  }
}

/** The built-in models the scenario's workload uses. */
export function modelsOf(scenario: Scenario): Map<string, SwarmModel> {
  return new Map([...builtinModels()].filter(([name]) => scenario.workload.models[name] !== undefined))
}
