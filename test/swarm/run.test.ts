import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { readReport } from '../../src/swarm/report-files.js'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { runSwarm } from '../../src/swarm/run.js'
import { parseScenario, readScenario } from '../../src/swarm/scenario.js'
import { REPO_ROOT, runCli } from '../helpers/cli.js'

/**
 * The shipped smoke scenario, cut to 30 s: real daemons and renter clients on the shaped in-process network, one
 * anvil, every kind of fault and hostile peer. The longer runs are `npm run bench -- swarm`.
 */
describe('swarm run (the smoke scenario, 30 s)', () => {
  let dir: string
  let report: SwarmReport
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-swarm-'))
    const scenario = await readScenario(join(REPO_ROOT, 'scenarios', 'smoke.json'))
    scenario.durationS = 30
    report = await runSwarm(scenario, { outDir: join(dir, 'run') })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('holds every invariant: money conserved to the wei, no crash, no free work, no overpayment', () => {
    for (const inv of report.invariants) assert.ok(inv.ok, `${inv.name}: ${inv.detail}`)
    assert.equal(report.ok, true)
    assert.deepEqual(
      report.invariants.map((i) => i.name),
      ['money-conserved', 'no-honest-crash', 'no-free-work', 'overpay-within-one-tick'],
    )
  })

  it('is a market: lookups find offers, renters are served and pay by the second, providers are paid on-chain', () => {
    assert.ok(report.lookups.succeeded > 0, JSON.stringify(report.lookups))
    assert.ok(report.requests.served > 0, JSON.stringify(report.requests))
    assert.ok(report.leases.started > 0)
    assert.ok(report.payments.ticks > 0)
    assert.ok(report.timeToFirstPaidResultMs.count > 0)
    // Each first paid result is split by phase: each had to find its offers and run its job, and the renters opened
    // channels (in that request, or in an earlier one of theirs that failed).
    const phases = report.timeToFirstPaidResultPhasesMs!
    for (const k of ['discovery', 'channel', 'modelPush', 'job', 'other'] as const) {
      assert.equal(phases[k].count, report.timeToFirstPaidResultMs.count, k)
    }
    assert.ok(phases.discovery.p50! > 0 && phases.job.p50! > 0 && phases.channel.max! > 0, JSON.stringify(phases))
    const { total, channels } = report.money
    assert.ok(channels.length > 0)
    assert.ok(BigInt(total.settled) > 0n)
    // Forced final settlement: every wei a provider acknowledged was paid on-chain, no more.
    assert.equal(total.settled, total.acknowledged)
    assert.equal(BigInt(total.deposited), BigInt(total.settled) + BigInt(total.refunded) + BigInt(total.held))
    for (const c of channels) assert.ok(c.ok, c.channelId)
  })

  it('hostile peers got nothing for free, and a wrong-result provider is measured, not hidden', () => {
    assert.equal(report.hostile.freeJobs, 0)
    assert.equal(report.hostile.wrongResultProviders, 1)
    // Results are not verified yet, so a wrong one it served was paid for like any other: the run says how much.
    if (report.hostile.wrongResultsServed > 0) assert.ok(BigInt(report.hostile.wrongResultEarned) > 0n)
  })

  it('applies at least the configured latency between regions (a lower bound; the upper is reported)', () => {
    const measured = report.latency.pairs.filter((p) => p.samples > 0)
    assert.ok(measured.length > 0)
    for (const p of measured) {
      assert.ok(p.measuredRttP50Ms! >= p.configuredRttMs - 1, `${p.from}-${p.to}: ${p.measuredRttP50Ms} ms`)
    }
  })

  it('writes report.json and report.html, and `parkbench swarm report` re-renders and prints them', async () => {
    const out = join(dir, 'run')
    assert.ok(existsSync(join(out, 'report.html')))
    assert.deepEqual(await readReport(out), report)
    const result = await runCli(['swarm', 'report', out])
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /Money conserved\s+yes/)
    assert.match(result.stdout, /ok\s+money-conserved/)
  })
})

/**
 * Multi-process mode, small: every node its own process on TCP over 127.0.0.1 with shaped latency, a provider and a
 * renter killed with a real SIGKILL mid-run, then the same audit to the wei.
 */
describe('swarm run, multi-process (4 providers, 2 renters, 30 s, real SIGKILL)', () => {
  let dir: string
  let report: SwarmReport
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-swarm-mp-'))
    const scenario = parseScenario({
      name: 'multi-process-test',
      seed: 33,
      durationS: 30,
      network: { preset: 'gossipsub-interop-8', jitterMs: 1 },
      nodes: {
        providers: { count: 4, modelShare: 1 },
        renters: { count: 2 },
        hostile: { freeloaders: 1 },
      },
      churn: { rampS: 6, killsPerMin: 3, renterCrashesPerMin: 3 },
      workload: { models: { add: 1 }, requestsPerMinPerRenter: 40, leaseSeconds: 10 },
    })
    report = await runSwarm(scenario, { outDir: join(dir, 'run'), mode: 'multi-process' })
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('serves and pays across processes, kills with SIGKILL, and still conserves money to the wei', () => {
    for (const inv of report.invariants) assert.ok(inv.ok, `${inv.name}: ${inv.detail}`)
    assert.equal(report.mode, 'multi-process')
    assert.ok(report.nodes.killed >= 1, JSON.stringify(report.nodes))
    assert.ok(report.requests.served > 0, JSON.stringify(report.requests))
    assert.ok(report.money.channels.length > 0)
    assert.equal(report.money.total.settled, report.money.total.acknowledged)
    assert.equal(report.hostile.freeJobs, 0)
  })
})
