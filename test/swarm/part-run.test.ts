import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { networkFor } from '../../src/swarm/network-presets.js'
import { splitSchedule } from '../../src/swarm/part.js'
import { createRandom } from '../../src/swarm/random.js'
import { readReport } from '../../src/swarm/report-files.js'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { parseScenario } from '../../src/swarm/scenario.js'
import { buildSchedule } from '../../src/swarm/schedule.js'
import { launchChromium, requireChromium } from '../helpers/chromium.js'
import { type LongRunning, REPO_ROOT, runCli, startCli } from '../helpers/cli.js'

// Checked before any test is declared, so a machine without chromium fails this file (never skips it).
await requireChromium()

/** Bounds on waits for the processes (conditions, not timings: a loaded machine only takes longer). */
const PLAN_DEADLINE_MS = 60_000
const PART_DEADLINE_MS = 240_000

async function waitForFile(file: string, part: LongRunning): Promise<void> {
  const deadline = Date.now() + PLAN_DEADLINE_MS
  while (!existsSync(file)) {
    if (part.child.exitCode !== null) throw new Error(`part 1 exited ${part.child.exitCode}: ${part.errors()}`)
    if (Date.now() > deadline) throw new Error(`no ${file} after ${PLAN_DEADLINE_MS} ms: ${part.errors()}`)
    await sleep(100)
  }
}

async function exitOf(part: LongRunning): Promise<number | null> {
  const timer = setTimeout(() => part.child.kill('SIGKILL'), PART_DEADLINE_MS)
  try {
    // SIGCONT does nothing to a running process: this waits for the part to exit by itself.
    return await part.stop('SIGCONT')
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The shipped split scenario (4 providers, 3 renters, a freeloader, 30 s) in two real `parkbench swarm run --part`
 * processes on loopback: part 1 (multi-process: a process per node) starts the chain and the bootstrap node and writes
 * part.json; part 2 (in-process, the default: all its nodes in its one process, on TCP) joins with it. So both modes
 * are tested as parts, and together in one run.
 * The renters' price ceiling here admits only p0 (the cheapest, on part 1), so every request part 2's renter gets
 * served crossed from one part to the other.
 */
describe('swarm run --part 1/2 and --part 2/2, two processes, then report --merge', () => {
  let dir: string
  let parts: LongRunning[] = []
  let codes: Array<number | null>
  let reports: SwarmReport[]
  let owned: Array<Set<string>>
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-part-'))
    const raw = JSON.parse(await readFile(join(REPO_ROOT, 'scenarios', 'split.json'), 'utf8'))
    // Two renters on part 2 (r1, r3), and threads enough on p0 that the renters of part 1 never keep them out: a run
    // in CI where part 2's one renter was never served (all of p0's threads held) failed the cross-part check.
    raw.nodes.providers.threads = { '8': 1 }
    raw.nodes.renters.count = 5
    raw.workload.maxPricePerSecond = '150000000000'
    const file = join(dir, 'split.json')
    await writeFile(file, JSON.stringify(raw))
    const scenario = parseScenario(raw)
    const whole = buildSchedule(scenario, networkFor(scenario, createRandom(scenario.seed).fork('network')).regions)
    owned = [1, 2].map((index) => splitSchedule(whole, { index, count: 2 }).owned)
    const cheapest = whole.nodes
      .filter((n) => n.role === 'provider')
      .sort((a, b) => (a.pricePerSecond! < b.pricePerSecond! ? -1 : 1))
    assert.ok(cheapest[0]!.pricePerSecond! <= 150_000_000_000n && cheapest[1]!.pricePerSecond! > 150_000_000_000n)
    assert.ok(owned[0]!.has(cheapest[0]!.id), 'the one provider under the ceiling is on part 1')

    const one = startCli([
      'swarm',
      'run',
      file,
      '--part',
      '1/2',
      '--mode',
      'multi-process',
      '--out',
      join(dir, 'p1'),
      '--start-delay',
      '15',
    ])
    parts = [one]
    await waitForFile(join(dir, 'p1', 'part.json'), one)
    const two = startCli([
      'swarm',
      'run',
      file,
      '--part',
      '2/2',
      '--out',
      join(dir, 'p2'),
      '--join',
      join(dir, 'p1', 'part.json'),
    ])
    parts.push(two)
    codes = await Promise.all(parts.map(exitOf))
    reports = await Promise.all([readReport(join(dir, 'p1')), readReport(join(dir, 'p2'))])
  })
  after(async () => {
    for (const part of parts) if (part.child.exitCode === null) await part.stop('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('both parts complete, each running only its share of the nodes (index k - 1 mod 2)', () => {
    assert.deepEqual(codes, [0, 0], parts.map((p) => p.errors().slice(-2000)).join('\n---\n'))
    assert.deepEqual(
      reports.map((r) => r.mode),
      ['multi-process', 'in-process'],
    )
    for (const [i, report] of reports.entries()) {
      assert.deepEqual(report.part, { index: i + 1, count: 2 })
      for (const inv of report.invariants) assert.ok(inv.ok, `part ${i + 1} ${inv.name}: ${inv.detail}`)
      assert.deepEqual(new Set(report.books!.owned), owned[i])
      const mine = [...owned[i]!]
      assert.equal(report.nodes.providers, mine.filter((id) => id.startsWith('p')).length)
      assert.equal(report.nodes.renters, mine.filter((id) => id.startsWith('r')).length)
      // Its books hold its own members only.
      for (const p of report.books!.providers as Array<{ id: string }>) assert.ok(owned[i]!.has(p.id), p.id)
      for (const r of report.books!.renters as Array<{ id: string }>) assert.ok(owned[i]!.has(r.id), r.id)
    }
  })

  it('merges into one report: money conserved to the wei across parts, and a renter on part 2 paid a provider on part 1', async (t) => {
    t.diagnostic(
      `part 2's requests: ${JSON.stringify(reports[1]!.requests)}; failures: ${JSON.stringify((reports[1] as any).failures ?? null)}`,
    )
    const out = join(dir, 'merged')
    const result = await runCli(['swarm', 'report', '--merge', join(dir, 'p1'), join(dir, 'p2'), '--out', out])
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /merged from 2 parts/)
    const merged = await readReport(out)
    for (const inv of merged.invariants) assert.ok(inv.ok, `${inv.name}: ${inv.detail}`)
    assert.equal(merged.mergedFrom, 2)
    assert.equal(merged.nodes.providers + merged.nodes.renters + merged.nodes.hostile, 10)
    const { total, channels } = merged.money
    assert.equal(total.settled, total.acknowledged)
    assert.equal(BigInt(total.deposited), BigInt(total.settled) + BigInt(total.refunded) + BigInt(total.held))
    assert.equal(
      BigInt(total.settled),
      reports.reduce(
        (sum, r) =>
          sum +
          (r.books!.providers as Array<{ acknowledged: Array<[string, string]> }>)
            .flatMap((p) => p.acknowledged)
            .reduce((a, [, amount]) => a + BigInt(amount), 0n),
        0n,
      ),
    )
    const across = channels.filter(
      (c) => owned[1]!.has(c.renter) && owned[0]!.has(c.provider) && BigInt(c.acknowledged) > 0n,
    )
    assert.ok(across.length > 0, JSON.stringify(channels.filter((c) => c.acknowledged !== '0')))
    for (const c of across) {
      assert.ok(c.ok)
      assert.equal(c.settled, c.acknowledged)
      assert.ok(BigInt(c.acknowledged) <= BigInt(c.authorised))
    }
    assert.ok(merged.requests.served >= reports[1]!.requests.served && reports[1]!.requests.served > 0)
  })

  it('the merged report.html loads in headless Chromium with no errors and shows the merged headline', async () => {
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text())
      })
      page.on('pageerror', (err) => {
        errors.push(String(err))
      })
      await page.goto(pathToFileURL(join(dir, 'merged', 'report.html')).href, { waitUntil: 'load' })
      await page.waitForFunction("document.documentElement.dataset.rendered === 'true'", { timeout: 10_000 })
      const mode = await page.$eval('tr[data-key="mode"] td', (e) => e.textContent ?? '')
      assert.match(mode, /merged from 2 parts/)
      const points = await page.$eval('#plot-nodes-online', (e) => e.getAttribute('data-points'))
      const merged = await readReport(join(dir, 'merged'))
      assert.equal(points, String(merged.series.tMs.length))
      assert.deepEqual(errors, [])
    } finally {
      await browser.close()
    }
  })
})
