import { type ChildProcess, fork } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { WorkerPool } from '../compute/worker-pool.js'
import type { LeaseInfo } from '../lease/metered-lease.js'
import { createNode } from '../net/create-node.js'
import type { LocalWorldInit } from './local-world.js'
import { modelsOf } from './local-world.js'
import type { MemberCommand, MemberMessage, MemberProcessInit } from './member-process.js'
import { stopQuietly } from './members.js'
import type { MetricsSink } from './metrics.js'
import { freePorts, runPorts } from './part-ports.js'
import type { MemberBooks, RequestEvent, RunMember } from './run-member.js'
import { scenarioJson } from './scenario.js'
import type { NodeSpec } from './schedule.js'
import { shapedTcp } from './shaped-tcp.js'
import { Workload } from './workload.js'
import type { SwarmWorld, WorldPart } from './world.js'

const MEMBER_ENTRY = fileURLToPath(new URL('./member-process.js', import.meta.url))

/** What stands in for a real part in a multi-process run. */
export const MULTI_PROCESS_SUBSTITUTIONS = [
  "Latency: each node is its own process on TCP over 127.0.0.1; this kernel has no netem, so shaped TCP (src/swarm/shaped-tcp.ts) applies the matrix in user space at the dialing side of every connection: both directions of a connection are held for the one-way delay (jitter, loss and the dialer's bandwidth class included) in the dialer's process. The listener's bandwidth class is not applied.",
  'Chain: one anvil (a real EVM node) for the whole swarm; the final settlement is forced so that settled = acknowledged can be checked on every channel.',
  "Kill -9 is real: the run sends SIGKILL to the node's process.",
]

/** A member in a process of its own, driven over IPC. */
class ProcessMember implements RunMember {
  readonly id: string
  readonly role: RunMember['role']
  readonly region: string
  private child: ChildProcess | undefined
  private nextId = 1
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  private addrs: string[] = []
  private killing = false
  rssBytes = 0
  /** CPU time its processes reported as they finished (a killed life reports none). */
  cpuMicros = 0
  /**
   * The provider's leases as the run has seen them across its lives: those that ended (as it reported), and those
   * running when it was last sampled, ended at the moment of a kill (its process keeps no record of them).
   */
  private readonly leases = new Map<string, LeaseInfo>()
  private live = new Map<string, LeaseInfo>()

  constructor(
    readonly spec: NodeSpec,
    private readonly init: () => MemberProcessInit,
    private readonly sink: MetricsSink,
    private readonly onCrash: (err: unknown) => void,
  ) {
    this.id = spec.id
    this.role = spec.role
    this.region = spec.region
  }

  get online(): boolean {
    return this.child !== undefined && this.addrs.length > 0
  }

  private call<T>(command: Omit<MemberCommand, 'id'> & Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    const child = this.child
    if (child === undefined) return Promise.reject(new Error(`${this.id} is not running`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.id}: no answer to ${command.cmd} in ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      child.send({ ...command, id }, (err) => {
        if (err == null) return
        this.pending.delete(id)
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  async start(): Promise<void> {
    const init = this.init()
    const dir = join(init.dir, 'nodes', this.id)
    await mkdir(dir, { recursive: true })
    const child = fork(MEMBER_ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    child.stderr?.pipe(createWriteStream(join(dir, 'stderr.log'), { flags: 'a' }))
    this.child = child
    this.killing = false
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`${this.id} exited (${code ?? signal}) before it was ready`)),
      )
      this.pending.set(0, { resolve: () => resolve(), reject })
    })
    // A send to a process that just died fails with EPIPE: that is the kill, not a crash.
    child.on('error', (err) => {
      if (!this.killing) this.onCrash(err)
    })
    child.on('message', (m: MemberMessage) => {
      if ('metric' in m) {
        if (m.metric === 'leaseEnded') {
          const lease = m.args[0] as LeaseInfo
          this.live.delete(lease.leaseId)
          this.leases.set(lease.leaseId, lease)
        }
        ;(this.sink[m.metric] as (...args: unknown[]) => void)(...m.args)
        return
      }
      const waiting = this.pending.get(m.reply)
      this.pending.delete(m.reply)
      if (m.ok) waiting?.resolve(m.value)
      else waiting?.reject(new Error(m.error))
    })
    child.on('exit', (code, signal) => {
      if (this.child === child) {
        this.child = undefined
        this.addrs = []
      }
      for (const p of this.pending.values()) p.reject(new Error(`${this.id} exited`))
      this.pending.clear()
      // A node that dies without being killed is a crash the invariants count.
      if (!this.killing && code !== 0) this.onCrash(new Error(`${this.id} exited with ${code ?? signal}`))
    })
    child.send(init)
    await ready
    this.addrs = await this.call<string[]>({ cmd: 'start' }, 120_000)
  }

  async leave(): Promise<void> {
    await this.call({ cmd: 'leave' }).catch(() => {})
    await this.exit()
  }

  async kill(): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.killing = true
    const gone = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    const at = Date.now()
    for (const [id, lease] of this.live) this.leases.set(id, { ...lease, endedAt: at, state: 'ended' })
    this.live = new Map()
    await gone
  }

  /** Let the process end on its own (its IPC channel closes, it exits). */
  private async exit(): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.killing = true
    const gone = new Promise((resolve) => child.once('exit', resolve))
    child.disconnect()
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await gone
    clearTimeout(timer)
  }

  async request(event: RequestEvent): Promise<void> {
    await this.call({ cmd: 'request', event }, 120_000).catch(() => {})
  }

  async lookup(model: string, first: boolean): Promise<void> {
    await this.call({ cmd: 'lookup', model, first }).catch(() => {})
  }

  async attack(target: string[]): Promise<void> {
    await this.call({ cmd: 'attack', target }).catch(() => {})
  }

  addresses(): string[] {
    return this.addrs
  }

  async running(): Promise<LeaseInfo[]> {
    if (!this.online) return []
    const { leases, rssBytes } = await this.call<{ leases: LeaseInfo[]; rssBytes: number }>({ cmd: 'running' }, 10_000)
    this.rssBytes = rssBytes
    this.live = new Map(leases.map((l) => [l.leaseId, l]))
    return leases
  }

  async ping(target: string[], count: number): Promise<number[]> {
    return this.call<number[]>({ cmd: 'ping', target, count }).catch(() => [])
  }

  send(command: Omit<MemberCommand, 'id'> & Record<string, unknown>): void {
    if (this.child !== undefined) this.call(command).catch(() => {})
  }

  async finish(): Promise<MemberBooks> {
    // A provider that left or was killed, or a renter that is down, comes back to settle or read its books.
    if (this.child === undefined) {
      if (this.role !== 'provider' && this.role !== 'renter') return {}
      await this.start()
    }
    const { books, cpuMicros } = await this.call<{ books: MemberBooks; cpuMicros: number }>({ cmd: 'finish' }, 300_000)
    this.cpuMicros += cpuMicros
    await this.exit()
    if (books.provider !== undefined) {
      // This life's records, and those of its earlier lives that only the run kept.
      const merged = new Map(this.leases)
      for (const lease of books.provider.leases) merged.set(lease.leaseId, lease)
      books.provider.leases = [...merged.values()]
    }
    return books
  }

  async close(): Promise<void> {
    await this.exit()
  }
}

/**
 * Every member a process of its own, on TCP over 127.0.0.1 with the latency applied by shaped TCP; the run's
 * process holds the bootstrap node and drives the members over IPC.
 */
export async function startProcessWorld(
  init: LocalWorldInit & { onCrash(err: unknown): void; part?: WorldPart },
): Promise<SwarmWorld> {
  const { scenario, schedule, chain, network, metrics, part } = init
  const host = part?.host ?? '127.0.0.1'
  // Ports follow the schedule's node order from one base, so that every part knows every node's port (and so its
  // region) without being told; a part listens only on its own nodes' ports.
  const base = part?.portBase ?? (await freePorts(schedule.nodes.length + 1))
  const { ports, regions, regionOf } = runPorts(schedule, base, init.regions[0]!.name)
  // The bootstrap node: this process's, unless another part holds it.
  const hub =
    part?.bootstrap !== undefined
      ? undefined
      : await createNode({
          transports: [
            shapedTcp({
              network,
              region: init.regions[0]!.name,
              regionOf,
            }),
          ],
          listen: [`/ip4/${host}/tcp/${base}`],
          connections: { maxConnections: 100_000, inboundConnectionThreshold: 100_000 },
          connectionPingIntervalMs: 60_000,
        })
  const bootstrap = part?.bootstrap ?? hub!.getMultiaddrs().map((a) => a.toString())
  // The references once, here, with a pool of its own: every renter checks its results against them.
  const pool = new WorkerPool({ workers: 1, intraOpThreads: 1 })
  await pool.start()
  const workload = new Workload({ scenario, pool, models: modelsOf(scenario), metrics }, join(init.outDir, 'models'))
  try {
    await workload.prepare()
  } finally {
    await pool.stop()
  }
  const references = workload.exportReferences()
  const partitions = new Set<string>()
  const runTag = `swarm-${scenario.seed}-${process.pid}`
  const members = new Map<string, ProcessMember>()
  for (const spec of schedule.nodes) {
    if (part !== undefined && !part.owned.has(spec.id)) continue
    const privateKey = generatePrivateKey()
    if (spec.role === 'provider' || spec.role === 'renter') await chain.fund(privateKeyToAccount(privateKey).address)
    const memberInit = (): MemberProcessInit => ({
      spec,
      scenario: scenarioJson(scenario),
      chain: chain.config,
      privateKey,
      bootstrap,
      dir: init.outDir,
      port: ports.get(spec.id)!,
      host,
      regions,
      partitions: [...partitions].map((p) => p.split('|') as [string, string]),
      references,
      runTag,
    })
    members.set(spec.id, new ProcessMember(spec, memberInit, metrics, init.onCrash))
  }
  const broadcast = (cmd: 'partition' | 'heal', between: [string, string]): void => {
    for (const m of members.values()) m.send({ cmd, between })
  }
  return {
    mode: 'multi-process',
    members,
    hub,
    substitutions: MULTI_PROCESS_SUBSTITUTIONS,
    partition(a, b) {
      partitions.add(`${a}|${b}`)
      network.partition(a, b)
      broadcast('partition', [a, b])
    },
    heal(a, b) {
      partitions.delete(`${a}|${b}`)
      network.heal(a, b)
      broadcast('heal', [a, b])
    },
    usage: () => ({
      rssBytes:
        process.memoryUsage.rss() + [...members.values()].reduce((sum, m) => sum + (m.online ? m.rssBytes : 0), 0),
      memberCpuMicros: [...members.values()].reduce((sum, m) => sum + m.cpuMicros, 0),
    }),
    async close() {
      await Promise.allSettled([...members.values()].map((m) => m.close()))
      await stopQuietly(hub)
    },
  }
}
