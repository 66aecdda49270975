import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { networkFor } from '../../src/swarm/network-presets.js'
import {
  parsePart,
  partOfEvent,
  SwarmPartError,
  scenarioSha256,
  splitSchedule,
  writePartPlan,
} from '../../src/swarm/part.js'
import { createRandom } from '../../src/swarm/random.js'
import { readScenario, type Scenario } from '../../src/swarm/scenario.js'
import { buildSchedule, type ScheduleEvent, scheduleJson } from '../../src/swarm/schedule.js'
import { REPO_ROOT, runMain } from '../helpers/cli.js'

const SMOKE = join(REPO_ROOT, 'scenarios', 'smoke.json')

function schedule(scenario: Scenario) {
  return buildSchedule(scenario, networkFor(scenario, createRandom(scenario.seed).fork('network')).regions)
}

describe('swarm parts: the schedule split', () => {
  it('parts of the same seed add up to exactly the unsplit schedule: every node once, every event once', async () => {
    const scenario = await readScenario(SMOKE)
    const whole = schedule(scenario)
    // The smoke scenario has joins, leaves, kills, a renter crash, partitions and attacks.
    for (const kind of ['start', 'leave', 'kill', 'restart', 'partition', 'heal', 'request', 'lookup', 'attack']) {
      assert.ok(
        whole.events.some((e) => e.kind === kind),
        `smoke schedules a ${kind}`,
      )
    }
    for (const count of [1, 2, 3, 7]) {
      const parts = Array.from({ length: count }, (_, i) => splitSchedule(schedule(scenario), { index: i + 1, count }))
      // Every node belongs to exactly one part.
      const owners = whole.nodes.map((n) => parts.filter((p) => p.owned.has(n.id)).length)
      assert.deepEqual(owners, Array(whole.nodes.length).fill(1), `${count} parts`)
      // Every part knows every node (its port and region), though it runs only its own.
      for (const p of parts) {
        assert.equal(scheduleJson({ seed: p.seed, nodes: p.nodes, events: [] }), scheduleJson({ ...whole, events: [] }))
      }
      // An event about a node is carried out by its part alone; partitions by every part (each cuts its own dials).
      const union: ScheduleEvent[] = []
      for (const [i, p] of parts.entries()) {
        for (const e of p.events) {
          if ('node' in e) assert.ok(p.owned.has(e.node), `${e.kind} of ${e.node} on part ${i + 1}/${count}`)
          if ('node' in e || i === 0) union.push(e)
        }
        assert.equal(p.events.filter((e) => !('node' in e)).length, whole.events.filter((e) => !('node' in e)).length)
      }
      const key = (e: ScheduleEvent): string => JSON.stringify(e)
      assert.deepEqual(union.map(key).sort(), whole.events.map(key).sort(), `the union of ${count} parts`)
      // And each part carries its events out in the schedule's order.
      for (const p of parts) {
        const mine = new Set(p.events.map(key))
        assert.deepEqual(
          p.events.map(key),
          whole.events.map(key).filter((k) => mine.has(k)),
        )
      }
    }
  })

  it('a part runs the nodes whose index is k - 1 mod n: each gets its share of every role', async () => {
    const whole = schedule(await readScenario(SMOKE))
    const partOf = new Map(whole.nodes.map((n, i) => [n.id, (i % 2) + 1]))
    const one = splitSchedule(whole, { index: 1, count: 2 })
    assert.deepEqual(
      [...one.owned],
      whole.nodes.filter((_, i) => i % 2 === 0).map((n) => n.id),
    )
    for (const e of whole.events) assert.equal(partOfEvent(e, partOf), 'node' in e ? partOf.get(e.node) : 'all')
    assert.ok([...one.owned].some((id) => id.startsWith('p')) && [...one.owned].some((id) => id.startsWith('r')))
  })

  it('parses k/n and refuses a part outside 1..n', () => {
    assert.deepEqual(parsePart('2/3'), { index: 2, count: 3 })
    for (const bad of ['3/2', '0/2', '1/0', '1', 'a/b', '-1/2', '1/2/3']) {
      assert.throws(
        () => parsePart(bad),
        (err: unknown) => err instanceof SwarmPartError && err.code === 'SWARM_PART_INVALID',
        bad,
      )
    }
  })
})

describe('swarm run --part: bad usage is exit 2 with a clear message, before anything starts', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-part-usage-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const cases: Array<[string, string[], RegExp]> = [
    ['k above n', ['--part', '3/2'], /--part 3\/2: k must be 1 to n \(2\)/],
    ['k of 0', ['--part', '0/2'], /--part 0\/2: k must be 1 to n/],
    ['not k/n', ['--part', 'half'], /--part takes k\/n/],
    ['an unknown mode', ['--part', '1/2', '--mode', 'threads'], /--mode takes in-process or multi-process/],
    ['part 2 without --join', ['--part', '2/2'], /--part 2\/2 needs --join FILE/],
    ['a plan that is not there', ['--part', '2/2', '--join', '/nonexistent/part.json'], /Cannot read the part plan/],
    ['--join on part 1', ['--part', '1/2', '--join', 'x.json'], /--join is for parts 2..N/],
  ]
  for (const [name, flags, message] of cases) {
    it(name, async () => {
      const result = await runMain(['swarm', 'run', SMOKE, '--out', join(dir, 'run'), ...flags])
      assert.equal(result.code, 2, result.stderr)
      assert.match(result.stderr, message)
    })
  }

  it('a plan written for the same scenario with another --duration', async () => {
    const scenario = await readScenario(SMOKE)
    const plan = join(dir, 'part.json')
    await writePartPlan(plan, {
      version: 1,
      scenario: scenario.name,
      seed: scenario.seed,
      count: 2,
      scenarioSha256: scenarioSha256(scenario),
      chain: { rpcUrl: 'http://127.0.0.1:1', chainId: 31337, contract: `0x${'11'.repeat(20)}`, deployBlock: 1 },
      bootstrap: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWPrjhDLUrzyVQaPkXWmwDfUDRyHNYQ5XZ8gEJDeSkPx8D'],
      portBase: 30_000,
      startAt: new Date().toISOString(),
    })
    const flags = ['--part', '2/2', '--join', plan, '--duration', '12']
    const result = await runMain(['swarm', 'run', SMOKE, '--out', join(dir, 'run'), ...flags])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /another version of scenario smoke: every part needs the same file/)
    const other = await runMain(['swarm', 'run', SMOKE, '--out', join(dir, 'run'), '--part', '2/3', '--join', plan])
    assert.equal(other.code, 2, other.stderr)
    assert.match(other.stderr, /is for count 2, this part runs count 3/)
  })

  it('--merge of folders that are not the parts of one run', async () => {
    const result = await runMain(['swarm', 'report', '--merge', join(dir, 'a'), '--out', join(dir, 'm')])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /at least two parts/)
  })
})
