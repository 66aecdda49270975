import { join } from 'node:path'
import { WorkerPool } from '../compute/worker-pool.js'
import { createNode } from '../net/create-node.js'
import { corruptingPool, HostilePeer } from './hostile.js'
import { fundedAccount, memberNode, type SwarmContext, SwarmProvider, SwarmRenter, stopQuietly } from './members.js'
import type { SwarmMetrics } from './metrics.js'
import { builtinModels, type SwarmModel } from './models.js'
import type { NetworkModel } from './network.js'
import type { SwarmChain } from './part-chain.js'
import { freePorts, runPorts } from './part-ports.js'
import { createRandom } from './random.js'
import { IN_PROCESS_SUBSTITUTIONS } from './report-build.js'
import { LocalMember, type RunMember } from './run-member.js'
import type { Scenario } from './scenario.js'
import type { NodeSpec, Schedule } from './schedule.js'
import { shapedTcp } from './shaped-tcp.js'
import { Workload } from './workload.js'
import type { SwarmWorld, WorldPart } from './world.js'

export interface LocalWorldInit {
  scenario: Scenario
  schedule: Schedule
  chain: SwarmChain
  network: NetworkModel
  regions: Array<{ name: string; weight: number }>
  metrics: SwarmMetrics
  outDir: string
  now(): number
  /**
   * One part of a split run: the members this part owns, all in this process, on shaped TCP (each on its port of
   * the run's plan, see part-ports.ts) so that the other parts' nodes reach them; the bootstrap node too, unless
   * another part holds it. Without it, the shaped in-process transport.
   */
  part?: WorldPart
}

/**
 * Every member in this process on the shaped in-process transport: one worker pool for all providers, a bootstrap
 * node, real daemons, renter clients and hostile peers.
 */
export async function startLocalWorld(init: LocalWorldInit): Promise<SwarmWorld> {
  const { scenario, schedule, chain, network, metrics, part } = init
  const host = part?.host ?? '127.0.0.1'
  const tcpPorts =
    part === undefined
      ? undefined
      : runPorts(schedule, part.portBase ?? (await freePorts(schedule.nodes.length + 1)), init.regions[0]!.name)
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
    ...(tcpPorts !== undefined && {
      transport: (spec: NodeSpec) => ({
        transports: [
          shapedTcp({ network, region: spec.region, bandwidthClass: spec.bandwidth, regionOf: tcpPorts.regionOf }),
        ],
        listen: [`/ip4/${host}/tcp/${spec.id === HUB_ID ? tcpPorts.base : tcpPorts.ports.get(spec.id)}`],
      }),
    }),
  }
  // The bootstrap node: this process's, unless another part of a split run holds it.
  const hub =
    part?.bootstrap !== undefined
      ? undefined
      : await createNode({
          ...memberNode(
            ctx,
            { id: HUB_ID, role: 'provider', region: init.regions[0]!.name, bandwidth: 'default' },
            runTag,
          ),
          bootstrap: [],
          connections: { maxConnections: 100_000, inboundConnectionThreshold: 100_000 },
        })
  ctx.bootstrap = part?.bootstrap ?? hub!.getMultiaddrs().map((a) => a.toString())
  const workload = new Workload(ctx, join(init.outDir, 'models'))
  try {
    await workload.prepare()
  } catch (err) {
    if (hub !== undefined) await stopQuietly(hub)
    await pool.stop()
    throw err
  }
  const attackRandom = createRandom(scenario.seed).fork('attack-bytes')
  const members = new Map<string, RunMember>()
  for (const spec of schedule.nodes) {
    if (part !== undefined && !part.owned.has(spec.id)) continue
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
    substitutions:
      part === undefined ? IN_PROCESS_SUBSTITUTIONS : [IN_PROCESS_PART_TRANSPORT, ...IN_PROCESS_SUBSTITUTIONS.slice(1)],
    partition: (a, b) => network.partition(a, b),
    heal: (a, b) => network.heal(a, b),
    usage: () => ({ rssBytes: process.memoryUsage.rss(), memberCpuMicros: 0 }),
    async close() {
      if (hub !== undefined) await stopQuietly(hub)
      await pool.stop()
    },
  }
}

/** The bootstrap node's id (no member of a schedule has it). */
const HUB_ID = 'hub'

/** What replaces the in-process transport in one part of a split run. */
export const IN_PROCESS_PART_TRANSPORT =
  "Transport (one part of a split run, every node of this part in this process): TCP on the part's host, each node on its port of the run's plan, with the matrix applied in user space by shaped TCP (src/swarm/shaped-tcp.ts) at the dialing side of every connection, as in multi-process mode, so that the other parts' nodes reach this part's; noise, yamux, identify, ping and kad-dht run unchanged on top of it."

/** The built-in models the scenario's workload uses. */
export function modelsOf(scenario: Scenario): Map<string, SwarmModel> {
  return new Map([...builtinModels()].filter(([name]) => scenario.workload.models[name] !== undefined))
}
