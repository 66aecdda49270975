import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { WorkerPool } from '../compute/worker-pool.js'
import { AbortedError } from '../errors.js'
import { createNode, type ParkbenchNode } from '../net/create-node.js'
import { devChainConfig, startDevChain } from '../pay/dev-chain.js'
import { auditSwarm, renterBooks, settleProvider } from './audit.js'
import { corruptingPool, HostilePeer } from './hostile.js'
import {
  fundedAccount,
  memberAddress,
  memberNode,
  type SwarmContext,
  SwarmProvider,
  SwarmRenter,
  stopQuietly,
} from './members.js'
import { type SampledLease, SwarmMetrics } from './metrics.js'
import { builtinModels } from './models.js'
import { networkFor } from './network-presets.js'
import { createRandom } from './random.js'
import { buildReport } from './report-build.js'
import { writeReport } from './report-files.js'
import type { SwarmReport } from './report-types.js'
import type { Scenario } from './scenario.js'
import { buildSchedule, type ScheduleEvent } from './schedule.js'
import { Workload } from './workload.js'

/** What a run reports as it goes. */
export type SwarmProgressEvent =
  | { type: 'swarm:chain'; rpcUrl: string }
  | { type: 'swarm:scheduled'; nodes: number; events: number }
  | { type: 'swarm:tick'; tMs: number; online: number; activeLeases: number; served: number; failed: number }
  | { type: 'swarm:settling'; providers: number }
  | { type: 'swarm:done'; ok: boolean; outDir: string }

export interface RunSwarmOptions extends AbortOptions {
  /** The run's folder: report.json, report.html, and each node's data dir under nodes/. */
  outDir: string
  onProgress?(event: SwarmProgressEvent): void
}

/**
 * Run a scenario in this process: one anvil, a bootstrap node, and every provider, renter and hostile peer the
 * schedule names, each a real parkbench node (libp2p with noise, yamux and the DHT; leases; hash-chain payments;
 * onnxruntime in a worker pool the providers share) on the shaped in-process transport. Carries out the schedule,
 * settles every channel on-chain at the end, audits the money to the wei, checks the invariants and writes the
 * report. Resolves with the report whether or not the invariants held (`report.ok`).
 */
export async function runSwarm(scenario: Scenario, options: RunSwarmOptions): Promise<SwarmReport> {
  const { outDir } = options
  const emit = (event: SwarmProgressEvent): void => options.onProgress?.(event)
  await mkdir(outDir, { recursive: true })
  const { network, regions } = networkFor(scenario, createRandom(scenario.seed).fork('network'))
  const schedule = buildSchedule(scenario, regions)
  emit({ type: 'swarm:scheduled', nodes: schedule.nodes.length, events: schedule.events.length })
  const crashes: string[] = []
  const onCrash = (err: unknown): void => {
    crashes.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err))
  }
  process.on('uncaughtException', onCrash)
  process.on('unhandledRejection', onCrash)

  const startedAt = new Date()
  let t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const chain = await startDevChain({})
  emit({ type: 'swarm:chain', rpcUrl: chain.rpcUrl })
  const pool = new WorkerPool({ workers: 1, intraOpThreads: 1, maxQueue: 4096 })
  const stoppers: Array<() => Promise<unknown>> = [() => chain.stop(), () => pool.stop()]
  const runTag = `swarm-${scenario.seed}-${process.pid}-${Date.now().toString(36)}`
  let hub: ParkbenchNode | undefined
  try {
    await pool.start()
    const all = builtinModels()
    const models = new Map([...all].filter(([name]) => scenario.workload.models[name] !== undefined))
    const metrics = new SwarmMetrics(() => performance.now() - t0)
    const ctx: SwarmContext = {
      scenario,
      chain,
      network,
      pool,
      wrongPool: corruptingPool(pool),
      models,
      bootstrap: [],
      dir: outDir,
      metrics,
      now: () => performance.now() - t0,
    }
    hub = await createNode({
      ...memberNode(ctx, { id: 'hub', role: 'provider', region: regions[0]!.name, bandwidth: 'default' }, runTag),
      bootstrap: [],
      connections: { maxConnections: 100_000, inboundConnectionThreshold: 100_000 },
    })
    ctx.bootstrap = hub.getMultiaddrs().map((a) => a.toString())
    const started = hub
    stoppers.push(() => stopQuietly(started))

    const workload = new Workload(ctx, join(outDir, 'models'))
    await workload.prepare()
    const providers = new Map<string, SwarmProvider>()
    const renters = new Map<string, SwarmRenter>()
    const hostile = new Map<string, HostilePeer>()
    const ready = new Map<string, Promise<void>>()
    const attackRandom = createRandom(scenario.seed).fork('attack-bytes')
    for (const spec of schedule.nodes) {
      if (spec.role === 'provider')
        providers.set(spec.id, new SwarmProvider(spec, await fundedAccount(chain), ctx, runTag))
      else if (spec.role === 'renter')
        renters.set(spec.id, new SwarmRenter(spec, await fundedAccount(chain), ctx, runTag))
      else hostile.set(spec.id, new HostilePeer(spec, ctx, runTag, attackRandom.fork(spec.id)))
    }
    const looked = new Set<string>()
    // The schedule's clock starts now that the chain, the hub, the accounts and the references are ready.
    t0 = performance.now()
    const inFlight = new Set<Promise<unknown>>()
    const track = (p: Promise<unknown>): void => {
      const tracked = p.catch(onCrash).finally(() => inFlight.delete(tracked))
      inFlight.add(tracked)
    }
    const after = (node: string, step: () => Promise<void>): Promise<void> => {
      const next = (ready.get(node) ?? Promise.resolve()).catch(() => {}).then(step)
      ready.set(node, next)
      return next
    }
    const startNode = async (id: string): Promise<void> => {
      const member = providers.get(id) ?? renters.get(id) ?? hostile.get(id)
      try {
        await member?.start()
      } catch (err) {
        metrics.failures.add(`START_FAILED:${(err as { code?: string }).code ?? (err as Error).name}`)
      }
    }
    const dispatch = (event: ScheduleEvent): void => {
      switch (event.kind) {
        case 'start':
        case 'restart':
          track(after(event.node, () => startNode(event.node)))
          break
        case 'leave':
          track(after(event.node, async () => providers.get(event.node)?.leave()))
          break
        case 'kill':
          track(after(event.node, async () => (providers.get(event.node) ?? renters.get(event.node))?.kill()))
          break
        case 'partition':
          network.partition(...event.between)
          break
        case 'heal':
          network.heal(...event.between)
          break
        case 'request': {
          const renter = renters.get(event.node)
          if (renter !== undefined)
            track((ready.get(event.node) ?? Promise.resolve()).then(() => workload.request(renter, event)))
          break
        }
        case 'lookup': {
          const renter = renters.get(event.node)
          if (renter === undefined) break
          const first = !looked.has(event.node)
          looked.add(event.node)
          track((ready.get(event.node) ?? Promise.resolve()).then(() => workload.lookup(renter, event.model, first)))
          break
        }
        case 'attack': {
          const peer = hostile.get(event.node)
          const target = providers.get(event.target)?.daemon?.node
          if (peer !== undefined && target !== undefined) track(peer.attack(memberAddress(target)))
          break
        }
      }
    }

    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    stoppers.push(async () => loop.disable())
    const sampler = setInterval(() => {
      let online = 0
      const running: SampledLease[] = []
      for (const p of providers.values()) {
        if (p.daemon === undefined) continue
        online++
        for (const lease of p.daemon.leaseList()) if (lease.endedAt === undefined) running.push(lease)
      }
      for (const r of renters.values()) if (r.online) online++
      for (const h of hostile.values()) if (h.node !== undefined) online++
      const sample = metrics.sample(ctx.now(), online, running)
      emit({ type: 'swarm:tick', ...sample, served: metrics.requests.served, failed: metrics.requests.failed })
    }, scenario.sampleEveryMs)
    try {
      for (const event of schedule.events) {
        const wait = t0 + event.t - performance.now()
        if (wait > 0) await sleep(wait, undefined, options.signal !== undefined ? { signal: options.signal } : {})
        dispatch(event)
      }
      const end = t0 + scenario.durationS * 1000 - performance.now()
      if (end > 0) await sleep(end, undefined, options.signal !== undefined ? { signal: options.signal } : {})
      // Requests still running get their own deadline; then everyone stops.
      await Promise.allSettled([...inFlight])
      await Promise.allSettled([...ready.values()])
    } catch (err) {
      if (options.signal?.aborted === true) throw new AbortedError('The swarm run was aborted', { cause: err })
      throw err
    } finally {
      clearInterval(sampler)
    }
    metrics.eventLoopP99Ms = Math.round(loop.percentile(99) / 1e4) / 100
    const latency = await workload.measureLatency(providers, renters, hub)
    await Promise.allSettled([...hostile.values()].map((h) => h.stop()))
    // Renters that are down come back to read their books, then every renter stops (final vouchers).
    for (const renter of renters.values()) if (!renter.online) await startNode(renter.spec.id)
    await Promise.allSettled([...renters.values()].map((r) => r.stop()))
    emit({ type: 'swarm:settling', providers: providers.size })
    const providerBooks = []
    for (const provider of providers.values()) providerBooks.push(await settleProvider(provider))
    const audit = await auditSwarm({
      chain: { ...devChainConfig(chain), deployBlock: chain.deployBlock },
      providers: providerBooks,
      renters: [...renters.values()].map(renterBooks),
      crashes,
      hostile: { freeJobs: metrics.freeJobs, attacks: metrics.attacks.sent },
    })
    const durationMs = performance.now() - t0
    const report = buildReport({
      scenario,
      schedule,
      metrics,
      audit,
      latency,
      startedAt,
      durationMs,
      cpu: process.cpuUsage(cpu0),
      nodeSeconds: metrics.nodeSeconds,
      peak: metrics.peakOnline,
    })
    await writeReport(outDir, report)
    emit({ type: 'swarm:done', ok: report.ok, outDir })
    await Promise.allSettled([...providers.values()].map((p) => p.leave()))
    return report
  } finally {
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
    for (const stop of stoppers.reverse()) await stop().catch(() => {})
  }
}
