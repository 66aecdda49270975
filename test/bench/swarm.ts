import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runSwarm } from '../../src/swarm/run.js'
import { parseScenario } from '../../src/swarm/scenario.js'
import { printTable } from './stats.js'

const MiB = 1024 * 1024

/** Market sizes, and idle sizes for what one process holds; `SWARM_SIZES=50,100` and `SWARM_IDLE_SIZES=` pick others. */
const SIZES = (process.env.SWARM_SIZES ?? '50,100,300').split(',').filter(Boolean).map(Number)
const IDLE_SIZES = (process.env.SWARM_IDLE_SIZES ?? '100,300,1000').split(',').filter(Boolean).map(Number)
const MP_SIZES = (process.env.SWARM_MP_SIZES ?? '20,50').split(',').filter(Boolean).map(Number)

/** Starting a node costs ~350 ms of CPU here (noise handshakes with its first DHT contacts): the ramp allows it. */
const RAMP_S_PER_NODE = 0.4

/**
 * A market of `nodes` nodes (80% providers, 20% renters, a few hostile peers) on the 8-region matrix, 10% of the
 * providers churning per minute (half joining, half leaving), 1 kill a minute, 60 s of workload after the ramp.
 */
function scenarioOf(nodes: number) {
  const providers = Math.round(nodes * 0.8)
  const renters = nodes - providers
  const rampS = Math.max(10, Math.ceil(nodes * RAMP_S_PER_NODE))
  return parseScenario({
    name: `bench-${nodes}`,
    seed: 4242 + nodes,
    durationS: rampS + 60,
    network: { preset: 'gossipsub-interop-8', jitterMs: 2 },
    nodes: {
      providers: {
        count: providers,
        pricePerSecond: { min: '100000000000', max: '400000000000' },
        modelShare: 0.6,
        bandwidth: { fullnode: 4, supernode: 1 },
      },
      renters: { count: renters, bandwidth: { fullnode: 4, supernode: 1 } },
      hostile: { wrongResultProviders: 1, garbagePeers: 1, freeloaders: 1, badOfferPeers: 1 },
    },
    churn: { rampS, joinsPerMin: providers * 0.05, leavesPerMin: providers * 0.05, killsPerMin: 1 },
    workload: {
      models: { add: 2, 'matmul-16': 1 },
      requestsPerMinPerRenter: 6,
      leaseSeconds: 20,
      maxPricePerSecond: '400000000000',
      requestTimeoutMs: 20_000,
    },
    sampleEveryMs: 2000,
  })
}

/** `nodes` providers and one renter that asks for nothing: what the process holds, idle, after the ramp. */
function idleScenarioOf(nodes: number) {
  const rampS = Math.max(10, Math.ceil(nodes * RAMP_S_PER_NODE))
  return parseScenario({
    name: `idle-${nodes}`,
    seed: 99 + nodes,
    durationS: rampS + 30,
    network: { preset: 'gossipsub-interop-8' },
    nodes: { providers: { count: nodes - 1 }, renters: { count: 1 } },
    churn: { rampS },
    workload: { models: { add: 1 }, requestsPerMinPerRenter: 0 },
    sampleEveryMs: 5000,
  })
}

/**
 * `npm run bench -- swarm`: in-process swarms of 100, 300 and 1,000 nodes. Per size: nodes held (peak online),
 * memory per node, lookup success within 2 s, time from `client.infer()` to the first paid result, requests served,
 * money conserved, and whether every invariant held. A size the machine cannot hold is reported with what failed.
 */
export async function run(): Promise<object> {
  const idle: Array<Record<string, unknown>> = []
  for (const nodes of IDLE_SIZES) {
    const dir = await mkdtemp(join(tmpdir(), `parkbench-swarm-idle-${nodes}-`))
    const started = performance.now()
    try {
      const report = await runSwarm(idleScenarioOf(nodes), { outDir: dir })
      const rss = report.series.rssBytes
      idle.push({
        nodes,
        peakOnline: report.nodes.peak,
        rssPerNodeMiB: report.resources.rssBytesPerNode === null ? null : report.resources.rssBytesPerNode / MiB,
        rssMaxMiB: Math.max(...rss) / MiB,
        cpuMsPerNodeSecond: report.resources.cpuMsPerNodeSecond,
        eventLoopP99Ms: report.resources.eventLoopP99Ms,
        invariantsHeld: report.ok,
        wallSeconds: Math.round((performance.now() - started) / 1000),
      })
    } catch (err) {
      idle.push({ nodes, error: (err as Error).message })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    process.stderr.write(`swarm idle ${nodes}: ${JSON.stringify(idle[idle.length - 1])}\n`)
  }
  printTable(
    'in-process, idle: what one process holds',
    idle.map((r) => ({
      nodes: String(r.nodes),
      peak: String(r.peakOnline ?? '-'),
      'MiB/node': typeof r.rssPerNodeMiB === 'number' ? r.rssPerNodeMiB.toFixed(2) : '-',
      'cpu ms/node-s': String(r.cpuMsPerNodeSecond ?? '-'),
      'loop p99 ms': String(r.eventLoopP99Ms ?? '-'),
      ok: String(r.invariantsHeld ?? r.error),
    })),
  )
  const market = async (nodes: number, mode: 'in-process' | 'multi-process'): Promise<Record<string, unknown>> => {
    const dir = await mkdtemp(join(tmpdir(), `parkbench-swarm-bench-${nodes}-`))
    const started = performance.now()
    try {
      const report = await runSwarm(scenarioOf(nodes), {
        outDir: dir,
        mode,
        onProgress: (e) => {
          if (e.type === 'swarm:tick' && Math.round(e.tMs / 2000) % 10 === 0) {
            process.stderr.write(
              `swarm ${mode} ${nodes}: ${Math.round(e.tMs / 1000)} s, ${e.online} online, ${e.served} served\n`,
            )
          }
        },
      })
      return {
        nodes,
        mode,
        peakOnline: report.nodes.peak,
        rssPerNodeMiB: report.resources.rssBytesPerNode === null ? null : report.resources.rssBytesPerNode / MiB,
        rssMaxMiB: Math.max(...report.series.rssBytes) / MiB,
        cpuMsPerNodeSecond: report.resources.cpuMsPerNodeSecond,
        eventLoopP99Ms: report.resources.eventLoopP99Ms,
        lookups: report.lookups.attempts,
        lookupSuccessWithin2s: report.lookups.successRate,
        timeToFirstOfferP50Ms: report.timeToFirstOfferMs.p50,
        timeToFirstPaidResultP50Ms: report.timeToFirstPaidResultMs.p50,
        timeToFirstPaidResultP95Ms: report.timeToFirstPaidResultMs.p95,
        inferP50Ms: report.inferLatencyMs.p50,
        inferP95Ms: report.inferLatencyMs.p95,
        requestsSent: report.requests.sent,
        requestsServed: report.requests.served,
        leasesStarted: report.leases.started,
        failovers: report.failovers,
        moneyConserved: report.money.conserved,
        channels: report.money.channels.length,
        invariantsHeld: report.ok,
        brokenInvariants: report.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`),
        failures: report.failures,
        latency: report.latency.pairs.filter((p) => p.samples > 0).slice(0, 8),
        wallSeconds: Math.round((performance.now() - started) / 1000),
      }
    } catch (err) {
      return {
        nodes,
        mode,
        error: (err as Error).message,
        wallSeconds: Math.round((performance.now() - started) / 1000),
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const rows: Array<Record<string, unknown>> = []
  for (const nodes of SIZES) rows.push(await market(nodes, 'in-process'))
  const mp: Array<Record<string, unknown>> = []
  for (const nodes of MP_SIZES) mp.push(await market(nodes, 'multi-process'))
  printTable(
    'swarm market, 8-region matrix, 10% provider churn per minute',
    [...rows, ...mp].map((r) => ({
      mode: String(r.mode),
      nodes: String(r.nodes),
      peak: String(r.peakOnline ?? '-'),
      'MiB/node': typeof r.rssPerNodeMiB === 'number' ? r.rssPerNodeMiB.toFixed(2) : '-',
      'lookup<=2s':
        typeof r.lookupSuccessWithin2s === 'number' ? `${(r.lookupSuccessWithin2s * 100).toFixed(1)}%` : '-',
      'first paid p95 ms': String(r.timeToFirstPaidResultP95Ms ?? '-'),
      served: `${r.requestsServed ?? '-'}/${r.requestsSent ?? '-'}`,
      ok: String(r.invariantsHeld ?? r.error),
    })),
  )
  return {
    goals: {
      nodesInProcess: 1000,
      lookupSuccessWithin2s: 0.99,
      timeToFirstPaidResultP95Ms: 1500,
    },
    rampSecondsPerNode: RAMP_S_PER_NODE,
    idle,
    sizes: rows,
    multiProcess: mp,
  }
}
