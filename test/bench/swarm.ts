import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { readReport } from '../../src/swarm/report-files.js'
import { hostVerdict } from '../../src/swarm/report-headline.js'
import { mergeReports } from '../../src/swarm/report-merge.js'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { parseScenario, scenarioJson } from '../../src/swarm/scenario.js'
import { startCli } from '../helpers/cli.js'
import { printTable } from './stats.js'

const MiB = 1024 * 1024

/** Market sizes, and idle sizes for what one process holds; `SWARM_SIZES=50,100` and `SWARM_IDLE_SIZES=` pick others. */
const SIZES = (process.env.SWARM_SIZES ?? '50,100,300').split(',').filter(Boolean).map(Number)
const IDLE_SIZES = (process.env.SWARM_IDLE_SIZES ?? '100,300,1000').split(',').filter(Boolean).map(Number)
const MP_SIZES = (process.env.SWARM_MP_SIZES ?? '20,50').split(',').filter(Boolean).map(Number)
/** The same market as two in-process parts on this machine (one process, one event loop, a core each). */
const PART_SIZES = (process.env.SWARM_PART_SIZES ?? '100,200,300').split(',').filter(Boolean).map(Number)
/** Idle swarms as two in-process parts: what the machine holds with every core running a part. */
const IDLE_PART_SIZES = (process.env.SWARM_IDLE_PART_SIZES ?? '1000').split(',').filter(Boolean).map(Number)
/** A part that has not finished this long after its schedule's end is killed (and reported as an error). */
const PART_GRACE_MS = 600_000

const PREVIOUS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench-results', 'swarm.json')

type Row = Record<string, unknown>

/**
 * This run's rows, then the previous bench-results/swarm.json's rows of sizes this run did not measure, each row with
 * the time it was measured: a run of one size (the big ones take a quiet machine and many minutes) keeps the others.
 */
function withEarlier(
  rows: Row[],
  earlier: Row[] | undefined,
  measuredAt: string,
  earlierAt: string | undefined,
): Row[] {
  const now = rows.map((r) => ({ ...r, measuredAt }))
  const kept = (earlier ?? [])
    .filter((r) => !rows.some((x) => x.nodes === r.nodes))
    .map((r) => ({ measuredAt: earlierAt, ...r }))
  return [...now, ...kept].sort((a: Row, b: Row) => Number(a.nodes) - Number(b.nodes))
}

/**
 * Run `scenario` as a researcher does, `parkbench swarm run FILE --out DIR` in a process of its own (not in the
 * bench's, whose heap and flags are not a run's), and read its report. A run still going this long after its
 * schedule's end is killed and reported as an error.
 */
async function runViaCli(
  scenario: ReturnType<typeof parseScenario>,
  dir: string,
  args: string[] = [],
): Promise<SwarmReport> {
  const file = join(dir, 'scenario.json')
  const out = join(dir, 'run')
  await writeFile(file, JSON.stringify(scenarioJson(scenario)))
  const run = startCli(['swarm', 'run', file, '--out', out, ...args])
  const deadline = setTimeout(() => run.child.kill('SIGKILL'), scenario.durationS * 1000 + PART_GRACE_MS)
  const code = await run.stop('SIGCONT').finally(() => clearTimeout(deadline))
  if (code !== 0 && code !== 1) throw new Error(`swarm run exited ${code}: ${run.errors().slice(-500)}`)
  return await readReport(out)
}

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
  const measuredAt = new Date().toISOString()
  const previous = existsSync(PREVIOUS)
    ? (JSON.parse(await readFile(PREVIOUS, 'utf8')) as { startedAt?: string; results?: Record<string, Row[]> })
    : undefined
  const keep = (key: string, rows: Row[]): Row[] =>
    withEarlier(rows, previous?.results?.[key], measuredAt, previous?.startedAt)
  const idle: Array<Record<string, unknown>> = []
  for (const nodes of IDLE_SIZES) {
    const dir = await mkdtemp(join(tmpdir(), `parkbench-swarm-idle-${nodes}-`))
    const started = performance.now()
    try {
      const report = await runViaCli(idleScenarioOf(nodes), dir)
      const rss = report.series.rssBytes
      idle.push({
        nodes,
        peakOnline: report.nodes.peak,
        rssPerNodeMiB: report.resources.rssBytesPerNode === null ? null : report.resources.rssBytesPerNode / MiB,
        rssMaxMiB: Math.max(...rss) / MiB,
        cpuMsPerNodeSecond: report.resources.cpuMsPerNodeSecond,
        eventLoopP99Ms: report.resources.eventLoopP99Ms,
        hostKeptUp: hostVerdict(report).keptUp,
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
  const figures = (report: SwarmReport, host = hostVerdict(report)) => ({
    peakOnline: report.nodes.peak,
    rssPerNodeMiB: report.resources.rssBytesPerNode === null ? null : report.resources.rssBytesPerNode / MiB,
    rssMaxMiB: Math.max(...report.series.rssBytes) / MiB,
    cpuMsPerNodeSecond: report.resources.cpuMsPerNodeSecond,
    eventLoopP99Ms: report.resources.eventLoopP99Ms,
    // Whether the machine kept the run's time (src/swarm/report-headline.ts): a row where it did not measured it.
    hostKeptUp: host.keptUp,
    sampleLateP95Ms: host.sampleLateP95Ms,
    lookups: report.lookups.attempts,
    lookupSuccessWithin2s: report.lookups.successRate,
    timeToFirstOfferP50Ms: report.timeToFirstOfferMs.p50,
    timeToFirstPaidResultP50Ms: report.timeToFirstPaidResultMs.p50,
    timeToFirstPaidResultP95Ms: report.timeToFirstPaidResultMs.p95,
    // Where the first paid results' time went (src/swarm/phases.ts): p50 and p95 of each phase.
    firstPaidPhasesMs:
      report.timeToFirstPaidResultPhasesMs === undefined
        ? null
        : Object.fromEntries(
            Object.entries(report.timeToFirstPaidResultPhasesMs).map(([k, d]) => [k, { p50: d.p50, p95: d.p95 }]),
          ),
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
    // The run process's Node flags (heap sizes change what one process holds).
    nodeFlags: report.resources.nodeFlags ?? [],
  })
  /**
   * The market of `nodes` as `parts` in-process parts, each a `parkbench swarm run --part k/n` process on this
   * machine, merged as `swarm report --merge` does: what the machine holds when every core runs a part.
   */
  const splitMarket = async (
    nodes: number,
    parts: number,
    scenarioFor: (nodes: number) => ReturnType<typeof scenarioOf> = scenarioOf,
  ): Promise<Record<string, unknown>> => {
    const dir = await mkdtemp(join(tmpdir(), `parkbench-swarm-parts-${nodes}-`))
    const started = performance.now()
    const running: Array<ReturnType<typeof startCli>> = []
    try {
      const scenario = scenarioFor(nodes)
      const file = join(dir, 'scenario.json')
      await writeFile(file, JSON.stringify(scenarioJson(scenario)))
      const out = (k: number): string => join(dir, `p${k}`)
      running.push(startCli(['swarm', 'run', file, '--part', `1/${parts}`, '--out', out(1), '--start-delay', '20']))
      const plan = join(out(1), 'part.json')
      for (let waited = 0; !existsSync(plan); waited += 200) {
        if (running[0]!.child.exitCode !== null || waited > 120_000)
          throw new Error(`no part plan: ${running[0]!.errors()}`)
        await sleep(200)
      }
      for (let k = 2; k <= parts; k++) {
        running.push(startCli(['swarm', 'run', file, '--part', `${k}/${parts}`, '--out', out(k), '--join', plan]))
      }
      const deadline = setTimeout(
        () => {
          for (const part of running) part.child.kill('SIGKILL')
        },
        scenario.durationS * 1000 + PART_GRACE_MS,
      )
      const codes = await Promise.all(running.map((part) => part.stop('SIGCONT'))).finally(() => clearTimeout(deadline))
      if (codes.some((c) => c !== 0 && c !== 1)) {
        throw new Error(`parts exited ${codes.join(', ')}: ${running.map((p) => p.errors().slice(-500)).join(' | ')}`)
      }
      const reports = await Promise.all(running.map((_, i) => readReport(out(i + 1))))
      const report = mergeReports(reports)
      return {
        nodes,
        mode: `in-process, ${parts} parts`,
        ...figures(report),
        // Each part's own process: the most a part's event loop lagged.
        eventLoopP99Ms: Math.max(...reports.map((r) => r.resources.eventLoopP99Ms ?? 0)),
        wallSeconds: Math.round((performance.now() - started) / 1000),
      }
    } catch (err) {
      for (const part of running) if (part.child.exitCode === null) part.child.kill('SIGKILL')
      return {
        nodes,
        mode: `in-process, ${parts} parts`,
        error: (err as Error).message,
        wallSeconds: Math.round((performance.now() - started) / 1000),
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const market = async (nodes: number, mode: 'in-process' | 'multi-process'): Promise<Record<string, unknown>> => {
    const dir = await mkdtemp(join(tmpdir(), `parkbench-swarm-bench-${nodes}-`))
    const started = performance.now()
    try {
      const report = await runViaCli(scenarioOf(nodes), dir, ['--mode', mode])
      return {
        nodes,
        mode,
        ...figures(report),
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
  const split: Array<Record<string, unknown>> = []
  for (const nodes of PART_SIZES) {
    split.push(await splitMarket(nodes, 2))
    process.stderr.write(`swarm 2 parts ${nodes}: ${JSON.stringify(split[split.length - 1])}\n`)
  }
  const idleSplit: Array<Record<string, unknown>> = []
  for (const nodes of IDLE_PART_SIZES) {
    idleSplit.push({ ...(await splitMarket(nodes, 2, idleScenarioOf)), mode: 'idle, in-process, 2 parts' })
    process.stderr.write(`swarm idle, 2 parts ${nodes}: ${JSON.stringify(idleSplit[idleSplit.length - 1])}\n`)
  }
  const mp: Array<Record<string, unknown>> = []
  for (const nodes of MP_SIZES) mp.push(await market(nodes, 'multi-process'))
  printTable(
    'swarm market, 8-region matrix, 10% provider churn per minute',
    [...rows, ...split, ...idleSplit, ...mp].map((r) => ({
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
    idle: keep('idle', idle),
    sizes: keep('sizes', rows),
    inProcessParts: keep('inProcessParts', split),
    idleInProcessParts: keep('idleInProcessParts', idleSplit),
    multiProcess: keep('multiProcess', mp),
  }
}
