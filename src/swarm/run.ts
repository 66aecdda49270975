import { mkdir } from 'node:fs/promises'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AbortOptions } from '@libp2p/interface'
import { AbortedError } from '../errors.js'
import { type DevChain, devChainConfig, startDevChain } from '../pay/dev-chain.js'
import { auditSwarm } from './audit.js'
import { startLocalWorld } from './local-world.js'
import { failureReason, SwarmMetrics } from './metrics.js'
import type { NetworkModel } from './network.js'
import { networkFor } from './network-presets.js'
import { type PartPlan, SwarmPartError, splitSchedule } from './part.js'
import { encodePartBooks } from './part-books.js'
import { ChainBarrier, partChain, type SwarmChain } from './part-chain.js'
import { startProcessWorld } from './process-world.js'
import { createRandom } from './random.js'
import { buildReport, type LatencyMeasurement } from './report-build.js'
import { writeReport } from './report-files.js'
import type { SwarmReport } from './report-types.js'
import type { MemberBooks, RunMember } from './run-member.js'
import { PART_BARRIER_TIMEOUT_MS, type PartRunOptions, passBarrier, writePlan } from './run-part.js'
import type { Scenario } from './scenario.js'
import { buildSchedule, type ScheduleEvent } from './schedule.js'
import type { SwarmWorld } from './world.js'

/** What a run reports as it goes. */
export type SwarmProgressEvent =
  | { type: 'swarm:chain'; rpcUrl: string }
  /** Part 1 of a split run wrote the plan the other parts join with. */
  | { type: 'swarm:plan'; file: string; plan: PartPlan }
  | { type: 'swarm:waiting'; phase: string; parts: number }
  | { type: 'swarm:scheduled'; nodes: number; events: number }
  | { type: 'swarm:tick'; tMs: number; online: number; activeLeases: number; served: number; failed: number }
  | { type: 'swarm:settling'; providers: number }
  | { type: 'swarm:done'; ok: boolean; outDir: string }

export interface RunSwarmOptions extends AbortOptions {
  /** The run's folder: report.json, report.html, and each node's data dir under nodes/. */
  outDir: string
  /**
   * `in-process` (default): every node in this process on the shaped in-process transport, for scale.
   * `multi-process`: every node a process of its own over TCP on 127.0.0.1 with the same shaping in user space,
   * killed with a real SIGKILL, for realism.
   */
  mode?: 'in-process' | 'multi-process'
  onProgress?(event: SwarmProgressEvent): void
  /**
   * Run one part of the scenario: see part.ts and docs/swarm.md. In either mode a part's nodes listen on TCP (its
   * share of the run's ports), so parts of either mode join one run.
   */
  part?: PartRunOptions
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
  const mode = options.mode ?? 'in-process'
  const { part } = options
  if (part !== undefined && part.index > 1 && part.join === undefined) {
    throw new SwarmPartError(`part ${part.index}/${part.count} needs part 1's plan (--join FILE)`)
  }
  const emit = (event: SwarmProgressEvent): void => options.onProgress?.(event)
  await mkdir(outDir, { recursive: true })
  const { network, regions } = networkFor(scenario, createRandom(scenario.seed).fork('network'))
  const whole = buildSchedule(scenario, regions)
  const split = part === undefined ? undefined : splitSchedule(whole, part)
  const schedule = split ?? whole
  emit({ type: 'swarm:scheduled', nodes: split?.owned.size ?? schedule.nodes.length, events: schedule.events.length })
  const crashes: string[] = []
  const onCrash = (err: unknown): void => {
    crashes.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err))
  }
  process.on('uncaughtException', onCrash)
  process.on('unhandledRejection', onCrash)

  const startedAt = new Date()
  let t0 = performance.now()
  const cpu0 = process.cpuUsage()
  const given = part?.join?.chain ?? part?.chain
  // Part 1's anvil listens where its nodes do, so that the other hosts reach its RPC.
  const anvil: DevChain | undefined =
    given === undefined ? await startDevChain(part?.host !== undefined ? { host: part.host } : {}) : undefined
  const chain: SwarmChain =
    anvil === undefined
      ? partChain(given!)
      : part !== undefined
        ? partChain({ ...devChainConfig(anvil), deployBlock: anvil.deployBlock })
        : { config: { ...devChainConfig(anvil), deployBlock: anvil.deployBlock }, fund: anvil.fund }
  emit({ type: 'swarm:chain', rpcUrl: chain.config.rpcUrl })
  const metrics = new SwarmMetrics(() => performance.now() - t0)
  let world: SwarmWorld | undefined
  let barrier: ChainBarrier | undefined
  try {
    const init = { scenario, schedule, chain, network, regions, metrics, outDir, now: () => performance.now() - t0 }
    const portBase = part?.join?.portBase ?? part?.portBase
    const worldPart = split !== undefined && {
      part: {
        owned: split.owned,
        ...(portBase !== undefined && { portBase }),
        ...(part?.host !== undefined && { host: part.host }),
        ...(part?.join !== undefined && { bootstrap: part.join.bootstrap }),
      },
    }
    world =
      mode === 'multi-process'
        ? await startProcessWorld({ ...init, onCrash, ...worldPart })
        : await startLocalWorld({ ...init, ...worldPart })
    const { members } = world
    let startAt: number | undefined
    if (part !== undefined) {
      const plan = part.join ?? (await writePlan(part, scenario, chain, world, outDir, emit))
      startAt = Date.parse(plan.startAt)
      barrier = new ChainBarrier(plan.chain.rpcUrl, `${plan.seed}:${plan.startAt}`, part.count)
    }
    const ready = new Map<string, Promise<void>>()
    const looked = new Set<string>()
    // The schedule's clock starts now that the chain, the hub, the accounts and the references are ready; in a split
    // run, at the plan's start time on this host's clock (a part that is late carries out what it missed at once).
    if (startAt !== undefined) {
      t0 = performance.now() + (startAt - Date.now())
      const early = t0 - performance.now()
      if (early > 0) await sleep(early, undefined, options.signal !== undefined ? { signal: options.signal } : {})
    } else t0 = performance.now()
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
    const whenReady = (node: string): Promise<void> => (ready.get(node) ?? Promise.resolve()).catch(() => {})
    const startNode = async (id: string): Promise<void> => {
      try {
        await members.get(id)?.start()
      } catch (err) {
        metrics.failure(`START_FAILED:${failureReason(err)}`)
      }
    }
    const dispatch = (event: ScheduleEvent): void => {
      switch (event.kind) {
        case 'start':
        case 'restart':
          track(after(event.node, () => startNode(event.node)))
          break
        case 'leave':
          track(after(event.node, async () => members.get(event.node)?.leave()))
          break
        case 'kill':
          track(after(event.node, async () => members.get(event.node)?.kill()))
          break
        case 'partition':
          world!.partition(...event.between)
          break
        case 'heal':
          world!.heal(...event.between)
          break
        case 'request':
          track(whenReady(event.node).then(() => members.get(event.node)?.request(event)))
          break
        case 'lookup': {
          const first = !looked.has(event.node)
          looked.add(event.node)
          track(whenReady(event.node).then(() => members.get(event.node)?.lookup(event.model, first)))
          break
        }
        case 'attack': {
          const target = members.get(event.target)
          if (target?.online === true) track(members.get(event.node)!.attack(target.addresses()))
          break
        }
      }
    }

    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const sinceStart = (): number => performance.now() - t0
    let sampling = false
    const sampler = setInterval(() => {
      if (sampling) return
      sampling = true
      void (async () => {
        const online = [...members.values()].filter((m) => m.online)
        const running = (await Promise.all(online.map((m) => m.running().catch(() => [])))).flat()
        const sample = metrics.sample(sinceStart(), online.length, running, world!.usage().rssBytes)
        emit({ type: 'swarm:tick', ...sample, served: metrics.requests.served, failed: metrics.requests.failed })
      })()
        .catch(onCrash)
        .finally(() => {
          sampling = false
        })
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
      loop.disable()
    }
    metrics.eventLoopP99Ms = Math.round(loop.percentile(99) / 1e4) / 100
    const latency = await measureLatency(members, network)
    // Hostile peers first, then renters (final vouchers), then providers settle.
    const books: MemberBooks[] = []
    const order = (r: string): number => (r === 'provider' ? 2 : r === 'renter' ? 1 : 0)
    const byRole = [...members.values()].sort((a, b) => order(a.role) - order(b.role))
    emit({ type: 'swarm:settling', providers: byRole.filter((m) => m.role === 'provider').length })
    let barrierPassed = part === undefined
    for (const member of byRole) {
      // A provider settles once every renter of the run stopped paying, on every part.
      if (!barrierPassed && member.role === 'provider') {
        await passBarrier(barrier!, 'renters-stopped', part!, crashes, emit, options)
        barrierPassed = true
      }
      books.push(
        await member.finish().catch((err: Error): MemberBooks => {
          onCrash(err)
          return {}
        }),
      )
    }
    if (!barrierPassed) await passBarrier(barrier!, 'renters-stopped', part!, crashes, emit, options)
    const providers = books.flatMap((b) => (b.provider === undefined ? [] : [b.provider]))
    const renters = books.flatMap((b) => (b.renter === undefined ? [] : [b.renter]))
    // In a split run, every part settles before any reads the chain's books.
    if (part !== undefined) await passBarrier(barrier!, 'settled', part, crashes, emit, options)
    const audit = await auditSwarm({
      chain: chain.config,
      providers,
      renters,
      crashes,
      hostile: { freeJobs: metrics.freeJobs, attacks: metrics.attacks.sent },
      ...(part !== undefined && { part: true }),
    })
    const durationMs = performance.now() - t0
    const report = buildReport({
      scenario,
      // A part reports on its own nodes (it knows every node's port and region, but runs only its share).
      schedule: split === undefined ? schedule : { ...split, nodes: split.nodes.filter((n) => split.owned.has(n.id)) },
      metrics,
      audit,
      latency,
      startedAt,
      durationMs,
      cpu: { ...process.cpuUsage(cpu0), user: process.cpuUsage(cpu0).user + world.usage().memberCpuMicros },
      nodeSeconds: metrics.nodeSeconds,
      peak: metrics.peakOnline,
      mode: world.mode,
      substitutions: world.substitutions,
      ...(part !== undefined && {
        part: { index: part.index, count: part.count },
        books: encodePartBooks({ providers, renters, crashes, metrics, owned: [...split!.owned] }),
      }),
    })
    await writeReport(outDir, report)
    emit({ type: 'swarm:done', ok: report.ok, outDir })
    await Promise.allSettled([...members.values()].map((m) => m.close()))
    return report
  } finally {
    process.off('uncaughtException', onCrash)
    process.off('unhandledRejection', onCrash)
    if (barrier !== undefined && part !== undefined) {
      // Part 1 holds the chain (and the bootstrap node) until every part read its books from it.
      // (An aborted run stops waiting at once.)
      await barrier.mark('done', part.index).catch(() => {})
      if (part.index === 1) await barrier.wait('done', PART_BARRIER_TIMEOUT_MS, options).catch(() => {})
    }
    await world?.close().catch(() => {})
    await anvil?.stop().catch(() => {})
  }
}

/** Pings per region pair when measuring the applied latency. */
const PINGS_PER_PAIR = 5

/**
 * How close the applied latency is to the matrix: libp2p ping from one online member of each region to one of
 * every other region (and another of its own), a few times each.
 */
async function measureLatency(members: Map<string, RunMember>, network: NetworkModel): Promise<LatencyMeasurement[]> {
  const byRegion = new Map<string, RunMember[]>()
  for (const m of members.values()) {
    if (!m.online || m.addresses().length === 0) continue
    byRegion.set(m.region, [...(byRegion.get(m.region) ?? []), m])
  }
  const regions = [...byRegion.keys()].sort()
  const out: LatencyMeasurement[] = []
  for (let a = 0; a < regions.length; a++) {
    for (let b = a; b < regions.length; b++) {
      const from = byRegion.get(regions[a]!)![0]!
      const to = byRegion.get(regions[b]!)!.find((m) => m !== from)
      if (to === undefined) continue
      out.push({
        from: regions[a]!,
        to: regions[b]!,
        configuredRttMs: network.rttMs(regions[a]!, regions[b]!),
        samples: await from.ping(to.addresses(), PINGS_PER_PAIR),
      })
    }
  }
  return out
}
