import '../polyfill.js'
import type { Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { WorkerPool } from '../compute/worker-pool.js'
import type { ChainConfig } from '../pay/chain-config.js'
import { corruptingPool, HostilePeer } from './hostile.js'
import { modelsOf } from './local-world.js'
import { type SwarmContext, SwarmProvider, SwarmRenter } from './members.js'
import type { MetricsSink } from './metrics.js'
import { networkFor } from './network-presets.js'
import { regionOfPorts } from './part-ports.js'
import { createRandom } from './random.js'
import { LocalMember, type RequestEvent } from './run-member.js'
import { parseScenario } from './scenario.js'
import type { NodeSpec } from './schedule.js'
import { shapedTcp } from './shaped-tcp.js'
import { Workload } from './workload.js'

/**
 * One member of a multi-process run, in a process of its own (`fork()`ed by process-world.ts, structured-clone
 * IPC). It builds the same network model from the scenario, listens on its own TCP port on 127.0.0.1 with the
 * latency applied by shaped TCP (the dialer shapes; every process knows which port is in which region), runs the
 * same member code as an in-process run, reports each measurement to the run as it happens (so a SIGKILL loses
 * none already made), and answers the run's commands.
 */

/** What the run hands a member process. */
export interface MemberProcessInit {
  spec: NodeSpec
  /** The scenario as JSON (amounts as strings): parsed again here. */
  scenario: unknown
  chain: ChainConfig
  privateKey: Hex
  bootstrap: string[]
  dir: string
  port: number
  /** The address to listen on: 127.0.0.1, or this host's when the run's parts are on several hosts. */
  host: string
  /** Every node's port and region, the hub's included: how shaped TCP knows where a peer is. */
  regions: Array<[number, string]>
  /** Partitions in force when it starts. */
  partitions: Array<[string, string]>
  references: Array<[string, number[][]]>
  runTag: string
}

/** A command from the run, and what this process answers. */
export type MemberCommand =
  | { id: number; cmd: 'start' | 'leave' | 'running' | 'finish' | 'addresses' }
  | { id: number; cmd: 'request'; event: RequestEvent }
  | { id: number; cmd: 'lookup'; model: string; first: boolean }
  | { id: number; cmd: 'attack'; target: string[] }
  | { id: number; cmd: 'ping'; target: string[]; count: number }
  | { id: number; cmd: 'partition' | 'heal'; between: [string, string] }

export type MemberMessage =
  | { reply: number; ok: true; value: unknown }
  | { reply: number; ok: false; error: string }
  | { metric: keyof MetricsSink; args: unknown[] }

function send(message: MemberMessage): void {
  process.send?.(message)
}

/** Measurements go to the run as they happen. */
const sink = new Proxy({} as MetricsSink, {
  get:
    (_t, method: string) =>
    (...args: unknown[]) =>
      send({ metric: method as keyof MetricsSink, args }),
})

async function main(init: MemberProcessInit): Promise<void> {
  const scenario = parseScenario(init.scenario)
  const { network } = networkFor(scenario, createRandom(scenario.seed).fork('network'))
  for (const [a, b] of init.partitions) network.partition(a, b)
  const regionOf = regionOfPorts(init.regions)
  const { spec } = init
  const pool = new WorkerPool({ workers: 1, intraOpThreads: 1 })
  if (spec.role === 'provider') await pool.start()
  const ctx: SwarmContext = {
    scenario,
    chain: init.chain,
    network,
    pool,
    wrongPool: corruptingPool(pool),
    models: modelsOf(scenario),
    bootstrap: init.bootstrap,
    dir: init.dir,
    metrics: sink,
    now: () => performance.now(),
    transport: (s) => ({
      transports: [shapedTcp({ network, region: s.region, bandwidthClass: s.bandwidth, regionOf })],
      listen: [`/ip4/${init.host}/tcp/${init.port}`],
    }),
  }
  const workload = new Workload(ctx, `${init.dir}/models`)
  workload.importReferences(init.references)
  const account = privateKeyToAccount(init.privateKey)
  const inner =
    spec.role === 'provider'
      ? { provider: new SwarmProvider(spec, account, ctx, init.runTag) }
      : spec.role === 'renter'
        ? { renter: new SwarmRenter(spec, account, ctx, init.runTag) }
        : {
            hostile: new HostilePeer(
              spec,
              ctx,
              init.runTag,
              createRandom(scenario.seed).fork(`attack-bytes:${spec.id}`),
            ),
          }
  const member = new LocalMember(inner, workload)

  const handle = async (c: MemberCommand): Promise<unknown> => {
    switch (c.cmd) {
      case 'start':
        await member.start()
        return member.addresses()
      case 'leave':
        await member.leave()
        return null
      case 'addresses':
        return member.addresses()
      case 'running':
        return { leases: await member.running(), rssBytes: process.memoryUsage.rss() }
      case 'request':
        await member.request(c.event)
        return null
      case 'lookup':
        await member.lookup(c.model, c.first)
        return null
      case 'attack':
        await member.attack(c.target)
        return null
      case 'ping':
        return member.ping(c.target, c.count)
      case 'partition':
        network.partition(...c.between)
        return null
      case 'heal':
        network.heal(...c.between)
        return null
      case 'finish': {
        const books = await member.finish()
        await member.close()
        await pool.stop()
        const cpu = process.cpuUsage()
        return { books, cpuMicros: cpu.user + cpu.system }
      }
    }
  }
  process.on('message', (c: MemberCommand) => {
    handle(c).then(
      (value) => send({ reply: c.id, ok: true, value }),
      (err: Error) => send({ reply: c.id, ok: false, error: `${err.name}: ${err.message}` }),
    )
  })
  // The run going away (its IPC channel closing) ends this member too.
  process.on('disconnect', () => process.exit(0))
  send({ reply: 0, ok: true, value: 'ready' })
}

process.once('message', (init: MemberProcessInit) => {
  main(init).catch((err: Error) => {
    process.stderr.write(`member ${init.spec?.id}: ${err.stack ?? err.message}\n`)
    process.exit(1)
  })
})
