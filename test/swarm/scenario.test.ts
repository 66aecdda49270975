import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { networkFor } from '../../src/swarm/network-presets.js'
import { createRandom } from '../../src/swarm/random.js'
import { parseScenario, readScenario, type Scenario, ScenarioError } from '../../src/swarm/scenario.js'
import { buildSchedule, scheduleJson } from '../../src/swarm/schedule.js'
import { REPO_ROOT } from '../helpers/cli.js'

const SCENARIOS = join(REPO_ROOT, 'scenarios')

async function smoke(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(SCENARIOS, 'smoke.json'), 'utf8'))
}

function schedule(scenario: Scenario) {
  return buildSchedule(scenario, networkFor(scenario, createRandom(scenario.seed).fork('network')).regions)
}

describe('swarm scenarios', () => {
  it('every shipped scenario parses, and its network and schedule can be built', async () => {
    const files = (await readdir(SCENARIOS)).filter((f) => f.endsWith('.json'))
    assert.ok(files.length >= 3, `scenarios: ${files.join(', ')}`)
    for (const file of files) {
      const scenario = await readScenario(join(SCENARIOS, file))
      const built = schedule(scenario)
      assert.ok(built.nodes.length >= scenario.nodes.providers.count + scenario.nodes.renters.count, file)
      assert.ok(
        built.events.some((e) => e.kind === 'request'),
        `${file} schedules requests`,
      )
    }
  })

  it('names the field that is wrong', async () => {
    const base = await smoke()
    const cases: Array<[(s: any) => void, string]> = [
      [(s) => delete s.seed, 'seed'],
      [(s) => (s.nodes.providers.count = 0), 'nodes.providers.count'],
      [(s) => (s.nodes.providers.pricePerSecond.min = 'ten'), 'nodes.providers.pricePerSecond.min'],
      [(s) => (s.workload.models = { 'resnet-9000': 1 }), 'workload.models.resnet-9000'],
      [(s) => (s.network.preset = 'mars'), 'network.preset'],
      [(s) => (s.churn.partitions = [{ atS: 1, forS: 1, between: ['europe'] }]), 'churn.partitions.0.between'],
      [(s) => (s.nodes.renters.colour = 'blue'), 'nodes.renters.colour'],
      [(s) => (s.durationS = -1), 'durationS'],
    ]
    for (const [mutate, path] of cases) {
      const broken = structuredClone(base)
      mutate(broken)
      assert.throws(
        () => parseScenario(broken),
        (err: unknown) => err instanceof ScenarioError && err.code === 'SCENARIO_INVALID' && err.path === path,
        path,
      )
    }
  })

  it('refuses a region or bandwidth class the network does not have, naming it', async () => {
    const base = await smoke()
    const badRegion = structuredClone(base) as any
    badRegion.churn.partitions = [{ atS: 1, forS: 1, between: ['europe', 'atlantis'] }]
    assert.throws(() => schedule(parseScenario(badRegion)), { code: 'NETWORK_CONFIG_INVALID' })
    const badClass = structuredClone(base) as any
    badClass.nodes.renters.bandwidth = { dialup: 1 }
    assert.throws(() => schedule(parseScenario(badClass)), /nodes\.renters\.bandwidth\.dialup/)
  })

  it('the same seed gives the same schedule of joins, faults and requests; another seed another', async () => {
    const scenario = parseScenario(await smoke())
    const a = scheduleJson(schedule(scenario))
    const b = scheduleJson(schedule(parseScenario(await smoke())))
    assert.equal(a, b)
    const other = scheduleJson(schedule({ ...scenario, seed: scenario.seed + 1 }))
    assert.notEqual(a, other)
    const events = schedule(scenario).events
    for (const kind of ['start', 'leave', 'kill', 'restart', 'partition', 'heal', 'request', 'lookup', 'attack']) {
      assert.ok(
        events.some((e) => e.kind === kind),
        `the smoke scenario schedules a ${kind}`,
      )
    }
    // Sorted in time, and each killed renter comes back.
    assert.ok(events.every((e, i) => i === 0 || events[i - 1]!.t <= e.t))
  })

  it('changing the churn leaves the requests where they were', async () => {
    const scenario = parseScenario(await smoke())
    const stormy = schedule(scenario).events
    const calm = schedule({
      ...scenario,
      churn: { ...scenario.churn, killsPerMin: 0, leavesPerMin: 0, joinsPerMin: 0, renterCrashesPerMin: 0 },
    }).events
    // A renter the storm never kills: its requests are drawn from its own stream, so they do not move.
    const spared = ['r0', 'r1', 'r2'].find((r) => !stormy.some((e) => e.kind === 'kill' && e.node === r))
    assert.ok(spared !== undefined, 'the smoke scenario spares a renter')
    const of = (events: typeof stormy) =>
      JSON.stringify(events.filter((e) => e.kind === 'request' && e.node === spared))
    assert.ok(of(calm).length > 2)
    assert.equal(of(stormy), of(calm))
  })
})
