import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { prepareModels } from './cases/model.js'
import { buildPlan, LONG_RUN_ONLY, SHORT_PLAN } from './plan.js'
import { type FuzzReport, runFuzz } from './runner.js'
import { formatVerdict, judge, type Verdict } from './verdict.js'
import { type FuzzWorld, startFuzzWorld } from './world.js'

/*
 * The fuzz harness (test/fuzz/): a real `parkbench start` on a dev chain, driven from this process by a client that
 * knows only protocols/README.md (a stock libp2p node, the generated codecs, raw frames), and an honest renter (the
 * SDK) in a third process. What the README documents for each class of input is data in expectations.ts; where the
 * daemon does something else today it is listed in known-disagreements.ts, which this test holds to exactly what
 * happens: a new disagreement fails it, and so does a listed one that no longer occurs (delete its entry with the
 * fix). The long run: `npm run bench -- fuzz` (bench-results/fuzz.json).
 */

/** The daemon's RSS may grow this much over the short run (V8 heaps grow before they collect). */
const MEMORY_BUDGET_BYTES = 200 * 1024 * 1024

describe('fuzz: every protocol holds against hostile peers (short run; the long one is `npm run bench -- fuzz`)', () => {
  let world: FuzzWorld
  let report: FuzzReport
  let verdict: Verdict

  before(async () => {
    world = await startFuzzWorld()
    const prelude = (await prepareModels(world)).map((result) => ({ protocol: 'model' as const, result }))
    report = await runFuzz(world, buildPlan(SHORT_PLAN), prelude)
    verdict = judge(report, { memoryBudgetBytes: MEMORY_BUDGET_BYTES, notRequired: LONG_RUN_ONLY })
  })

  after(async () => {
    await world?.stop()
  })

  it('answers every input class as protocols/README.md documents, but for KNOWN_DISAGREEMENTS (each one still occurring)', (t) => {
    for (const [protocol, p] of Object.entries(report.protocols)) {
      t.diagnostic(`${protocol}: ${p.cases} cases, ${p.results} judged, ${p.disagreements} disagreeing`)
    }
    const problems = [...verdict.unlisted, ...verdict.stale]
    assert.equal(problems.length, 0, formatVerdict({ ...verdict, crashes: [], other: [] }))
  })

  it('stays alive (no crash but the known ones) and bounds every exchange in time', () => {
    const hangs = verdict.other.filter((o) => o.includes('outran'))
    assert.equal(
      verdict.crashes.length + hangs.length,
      0,
      formatVerdict({ ...verdict, unlisted: [], stale: [], other: hangs }),
    )
    assert.equal(world.daemonAlive(), true)
  })

  it('serves an honest renter a real lease and inference throughout, within its deadline', (t) => {
    const { probes, latencyMs } = report.honest
    t.diagnostic(
      `honest renter: ${probes} probes, p50 ${latencyMs.p50} ms, p95 ${latencyMs.p95} ms, max ${latencyMs.max} ms`,
    )
    assert.ok(report.honest.probes >= 5, `only ${report.honest.probes} probes`)
    assert.equal(report.honest.failures, 0, report.honest.errors.join('\n'))
  })

  it('keeps its memory within budget and exercises every expectation (but the 30 s ones)', (t) => {
    const mib = (b: number): number => Math.round(b / 2 ** 20)
    t.diagnostic(
      `daemon RSS ${mib(report.memory.beforeBytes)} -> ${mib(report.memory.afterBytes)} MiB (max ${mib(report.memory.maxBytes)})`,
    )
    const other = verdict.other.filter((o) => !o.includes('outran') && !o.startsWith('the honest renter'))
    assert.equal(other.length, 0, other.join('\n'))
  })
})
