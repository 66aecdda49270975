import { type CaseResult, type FuzzCase, VOID } from './case.js'
import { agrees, EXPECTATIONS, type ExpectationId, type Protocol } from './expectations.js'
import { type FuzzWorld, rssBytes } from './world.js'

export const PROTOCOLS: readonly Protocol[] = ['offer', 'kad', 'lease', 'infer', 'model', 'control']

export interface RunPlan {
  /** Fast cases, by protocol, in the order they run (the runner interleaves protocols). */
  fast: Record<Protocol, FuzzCase[]>
  /** Cases that wait out deadlines, run in the background while the fast ones run. */
  slow: FuzzCase[]
  /** Cases that fill a limit, run alone at the end. */
  exclusive: FuzzCase[]
  /** The fast loop stops here, whatever is left, and so does each protocol at `perProtocolMs`. */
  maxMs: number
  perProtocolMs?: number
  /** One honest lease + inference every this many cases, each with this deadline. */
  honestEvery: number
  honestDeadlineMs: number
  /** Sample the daemon's RSS every this many cases. */
  rssEvery: number
  /** Told about progress now and then. */
  onProgress?(line: string): void
}

export interface Disagreement {
  count: number
  examples: string[]
}

export interface ExpectationStats {
  results: number
  agreed: number
  /** By observed outcome. */
  disagreed: Record<string, Disagreement>
}

export interface RecentCase {
  protocol: Protocol
  expect: string[]
  input: string
  outcome: string
}

export interface FuzzReport {
  durationMs: number
  /** Per protocol: cases run, judged results, hangs, time. */
  protocols: Record<Protocol, { cases: number; results: number; disagreements: number; hangs: number; ms: number }>
  expectations: Partial<Record<ExpectationId, ExpectationStats>>
  /**
   * The daemon found dead after a case: the cases just before (the one that killed it is among them; a process
   * takes a moment to exit) and the end of its stderr.
   */
  crashes: Array<{ recent: RecentCase[]; stderr: string }>
  /**
   * 'case': a case that outran its own bound (the runner stopped waiting: a harness bug or a true hang);
   * 'exchange': an exchange with neither an answer nor an end by its documented deadline plus slack.
   */
  hangs: Array<{ protocol: Protocol; case: string; ms: number; level: 'case' | 'exchange' }>
  voided: number
  honest: {
    probes: number
    failures: number
    latencyMs: { p50: number; p95: number; max: number }
    errors: string[]
  }
  memory: { beforeBytes: number; afterBytes: number; maxBytes: number; samples: number[] }
}

const EXAMPLES = 3

/** `record[key]`, created from `init` the first time. */
function entry<V>(record: Record<string, V>, key: string, init: () => V): V {
  const existing = record[key]
  if (existing !== undefined) return existing
  const created = init()
  record[key] = created
  return created
}

const emptyStats = (): ExpectationStats => ({ results: 0, agreed: 0, disagreed: {} })
const emptyDisagreement = (): Disagreement => ({ count: 0, examples: [] })

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10
}

/**
 * Runs a plan against a world and judges every result against EXPECTATIONS. `prelude`: results of exchanges made
 * before the run (the models the harness pushed), judged with the rest.
 */
export async function runFuzz(
  world: FuzzWorld,
  plan: RunPlan,
  prelude: Array<{ protocol: Protocol; result: CaseResult }> = [],
): Promise<FuzzReport> {
  const started = performance.now()
  const protocols = Object.fromEntries(
    PROTOCOLS.map((p) => [p, { cases: 0, results: 0, disagreements: 0, hangs: 0, ms: 0 }]),
  ) as FuzzReport['protocols']
  const report: FuzzReport = {
    durationMs: 0,
    protocols,
    expectations: {},
    crashes: [],
    hangs: [],
    voided: 0,
    honest: { probes: 0, failures: 0, latencyMs: { p50: 0, p95: 0, max: 0 }, errors: [] },
    memory: { beforeBytes: 0, afterBytes: 0, maxBytes: 0, samples: [] },
  }
  const latencies: number[] = []
  const recent: RecentCase[] = []
  const crashed = new Set<number>()

  const record = (protocol: Protocol, result: CaseResult): void => {
    if (result.outcome === VOID) {
      report.voided++
      return
    }
    protocols[protocol].results++
    const primary = result.expect[0]!
    const stats = entry(report.expectations as Record<string, ExpectationStats>, primary, emptyStats)
    stats.results++
    if (agrees(result.expect, result.outcome)) {
      stats.agreed++
      return
    }
    protocols[protocol].disagreements++
    const d = entry(stats.disagreed, result.outcome, emptyDisagreement)
    d.count++
    if (d.examples.length < EXAMPLES) {
      const also = result.expect.length > 1 ? ` (also under ${result.expect.slice(1).join(', ')})` : ''
      d.examples.push(`${result.input}${also}`)
    }
  }

  const sampleRss = async (): Promise<void> => {
    const rss = await rssBytes(world.daemonPid())
    if (rss === undefined) return
    report.memory.samples.push(rss)
    report.memory.maxBytes = Math.max(report.memory.maxBytes, rss)
  }

  const probe = async (): Promise<void> => {
    const result = await world.honest.probe(plan.honestDeadlineMs)
    report.honest.probes++
    latencies.push(result.ms)
    if (!result.ok) {
      report.honest.failures++
      if (report.honest.errors.length < 10) report.honest.errors.push(result.error ?? 'failed')
    }
  }

  /** Run one case with its bound enforced; a daemon found dead afterwards is a crash (and is restarted). */
  const runCase = async (c: FuzzCase): Promise<void> => {
    const t0 = performance.now()
    protocols[c.protocol].cases++
    if (c.protocol === 'infer' || c.protocol === 'model') await world.ensurePaid().catch(() => {})
    let timer: NodeJS.Timeout | undefined
    const bound = new Promise<'hang'>((resolve) => {
      timer = setTimeout(() => resolve('hang'), c.boundMs + 2_000)
    })
    let results: CaseResult[] | 'hang'
    try {
      results = await Promise.race([c.run(world), bound])
    } catch (err) {
      results = [{ expect: [], input: c.label, outcome: `harness-error: ${(err as Error).message}` }]
    } finally {
      clearTimeout(timer)
    }
    const ms = performance.now() - t0
    protocols[c.protocol].ms += ms
    // A daemon that died answers nothing more: look (briefly) after an exchange that ended without an answer, so
    // that the crash is pinned to the case that caused it rather than to the next one.
    if (results !== 'hang' && results.some((r) => r.outcome === 'closed' || r.outcome === 'refused')) {
      for (let i = 0; i < 5 && world.daemonAlive(); i++) await new Promise((r) => setTimeout(r, 10))
    }
    if (!world.daemonAlive()) {
      // What this case saw is the crash's doing: kept with the crash, not judged.
      const seen = results === 'hang' ? [{ expect: [], input: c.label, outcome: 'hang' }] : results
      for (const r of seen) recent.push({ protocol: c.protocol, expect: r.expect, input: r.input, outcome: r.outcome })
      // Cases side by side may all find it dead: one crash each time the daemon dies.
      if (!crashed.has(world.restarts)) {
        crashed.add(world.restarts)
        report.crashes.push({ recent: recent.slice(-3), stderr: world.daemonStderr().slice(-1500) })
      }
      await world.restart()
      return
    }
    if (results === 'hang') {
      protocols[c.protocol].hangs++
      report.hangs.push({ protocol: c.protocol, case: c.label, ms: Math.round(ms), level: 'case' })
      return
    }
    for (const r of results) {
      if (r.outcome === 'hang' || r.outcome.startsWith('hang/')) {
        protocols[c.protocol].hangs++
        if (report.hangs.length < 50)
          report.hangs.push({ protocol: c.protocol, case: r.input, ms: Math.round(ms), level: 'exchange' })
      }
      if (r.expect.length === 0) {
        // A harness failure: reported as its own line, never silently dropped.
        const stats = entry(report.expectations as Record<string, ExpectationStats>, 'harness', emptyStats)
        stats.results++
        const d = entry(stats.disagreed, r.outcome.slice(0, 120), emptyDisagreement)
        d.count++
        if (d.examples.length < EXAMPLES) d.examples.push(r.input)
        continue
      }
      record(c.protocol, r)
      recent.push({ protocol: c.protocol, expect: r.expect, input: r.input, outcome: r.outcome })
      if (recent.length > 3) recent.shift()
    }
  }

  for (const { protocol, result } of prelude) {
    protocols[protocol].cases++
    record(protocol, result)
  }
  await sampleRss()
  report.memory.beforeBytes = report.memory.samples[0] ?? 0
  await probe()

  // Slow cases in the background, a few at a time: each waits out a deadline from a node of its own. The quiet
  // ones (30 s) wait until the fast loop is done.
  const quiet = plan.slow.filter((c) => c.quiet === true)
  const slowQueue = plan.slow.filter((c) => c.quiet !== true)
  const slowWorkers = Array.from({ length: Math.min(4, slowQueue.length) }, async () => {
    while (slowQueue.length > 0) await runCase(slowQueue.shift()!)
  })

  // Fast cases, protocols interleaved, each protocol and the whole loop bounded in time.
  const queues = PROTOCOLS.map((p) => ({ protocol: p, cases: [...plan.fast[p]], since: performance.now() }))
  let n = 0
  while (queues.some((q) => q.cases.length > 0) && performance.now() - started < plan.maxMs) {
    for (const q of queues) {
      if (q.cases.length === 0) continue
      if (plan.perProtocolMs != null && protocols[q.protocol].ms > plan.perProtocolMs) {
        q.cases.length = 0
        continue
      }
      await runCase(q.cases.shift()!)
      n++
      if (n % plan.honestEvery === 0) await probe()
      if (n % plan.rssEvery === 0) await sampleRss()
      if (n % 500 === 0) plan.onProgress?.(`${n} cases, ${Math.round((performance.now() - started) / 1000)} s`)
    }
  }
  await Promise.all(slowWorkers)
  await Promise.all(
    Array.from({ length: Math.min(4, quiet.length) }, async () => {
      while (quiet.length > 0) await runCase(quiet.shift()!)
    }),
  )
  for (const c of plan.exclusive) await runCase(c)
  await probe()
  await sampleRss()
  report.memory.afterBytes = report.memory.samples.at(-1) ?? 0
  report.honest.latencyMs = {
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    max: percentile(latencies, 100),
  }
  report.durationMs = Math.round(performance.now() - started)
  for (const p of PROTOCOLS) protocols[p].ms = Math.round(protocols[p].ms)
  return report
}

/** Every (expectation, outcome) that disagreed, with its count and examples. */
export function disagreements(
  report: FuzzReport,
): Array<{ expectation: string; outcome: string; count: number; examples: string[] }> {
  const out: Array<{ expectation: string; outcome: string; count: number; examples: string[] }> = []
  for (const [expectation, stats] of Object.entries(report.expectations)) {
    for (const [outcome, d] of Object.entries(stats!.disagreed)) {
      out.push({ expectation, outcome, count: d.count, examples: d.examples })
    }
  }
  return out
}

/** The documented status of an expectation, for messages. */
export function documented(id: string): string {
  return (EXPECTATIONS as Record<string, { documented: string }>)[id]?.documented ?? '(not an expectation)'
}
