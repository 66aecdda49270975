import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { prepareModels } from './cases/model.js'
import { buildPlan, LONG_RUN_ONLY, SHORT_PLAN } from './plan.js'
import { type FuzzReport, runFuzz } from './runner.js'
import { formatVerdict, judge, type Verdict } from './verdict.js'
import { type FuzzWorld, startFuzzWorld } from './world.js'

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

  it('answers every input class as protocols/README.md documents, but for KNOWN_DISAGREEMENTS (each one still occurring)', () => {
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

  it('serves an honest renter a real lease and inference throughout, within its deadline', () => {
    assert.ok(report.honest.probes >= 5, `only ${report.honest.probes} probes`)
    assert.equal(report.honest.failures, 0, report.honest.errors.join('\n'))
  })

  it('keeps its memory within budget and exercises every expectation (but the 30 s ones)', () => {
    const other = verdict.other.filter((o) => !o.includes('outran') && !o.startsWith('the honest renter'))
    assert.equal(other.length, 0, other.join('\n'))
  })
})
