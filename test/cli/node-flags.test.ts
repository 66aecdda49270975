import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { nodeFlagsFor, SWARM_SEMI_SPACE_MB } from '../../src/cli/node-flags.js'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { runCli } from '../helpers/cli.js'

const FLAG = `--max-semi-space-size=${SWARM_SEMI_SPACE_MB}`

describe('node flags: which commands run in a relaunched process', () => {
  it('an in-process swarm run gets the larger young generation; a multi-process one and other commands do not', () => {
    assert.deepEqual(nodeFlagsFor(['swarm', 'run', 'park', '--out', 'x'], {}), [FLAG])
    assert.deepEqual(nodeFlagsFor(['swarm', 'run', 'park', '--mode', 'in-process'], {}), [FLAG])
    assert.equal(nodeFlagsFor(['swarm', 'run', 'park', '--mode', 'multi-process'], {}), undefined)
    assert.equal(nodeFlagsFor(['swarm', 'run', 'park', '--mode=multi-process'], {}), undefined)
    assert.equal(nodeFlagsFor(['swarm', 'report', 'runs/x'], {}), undefined)
    assert.equal(nodeFlagsFor(['start'], {}), undefined)
    assert.equal(nodeFlagsFor([], {}), undefined)
  })

  it('PARKBENCH_SWARM_SEMI_SPACE_MB sets the size; 0 or garbage turns the relaunch off', () => {
    assert.deepEqual(nodeFlagsFor(['swarm', 'run', 'park'], { PARKBENCH_SWARM_SEMI_SPACE_MB: '32' }), [
      '--max-semi-space-size=32',
    ])
    assert.equal(nodeFlagsFor(['swarm', 'run', 'park'], { PARKBENCH_SWARM_SEMI_SPACE_MB: '0' }), undefined)
    assert.equal(nodeFlagsFor(['swarm', 'run', 'park'], { PARKBENCH_SWARM_SEMI_SPACE_MB: 'lots' }), undefined)
  })
})

/** Two nodes, no requests, 3 s: the least a real run is. */
const TINY = {
  name: 'tiny',
  seed: 7,
  durationS: 3,
  network: { preset: 'gossipsub-interop-8' },
  nodes: { providers: { count: 1 }, renters: { count: 1 } },
  churn: { rampS: 1 },
  workload: { models: { add: 1 }, requestsPerMinPerRenter: 0 },
}

describe('parkbench swarm run, relaunched with its node flags (real processes)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-node-flags-'))
    await writeFile(join(dir, 'tiny.json'), JSON.stringify(TINY))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('runs the scenario in a process with the flag, says so in the report, and passes its exit code on', async () => {
    const out = join(dir, 'run')
    const result = await runCli(['swarm', 'run', join(dir, 'tiny.json'), '--out', out], { timeoutMs: 120_000 })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /money-conserved/)
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SwarmReport
    assert.ok(report.resources.nodeFlags?.includes(FLAG), JSON.stringify(report.resources))
  })

  it('bad usage in the relaunched process is still exit 2 with its message', async () => {
    const result = await runCli(['swarm', 'run', join(dir, 'missing.json'), '--out', join(dir, 'bad')])
    assert.equal(result.code, 2, result.stderr)
    assert.match(result.stderr, /missing\.json/)
  })

  it('with the relaunch turned off the run is in this process, without the flag', async () => {
    const out = join(dir, 'off')
    const result = await runCli(['swarm', 'run', join(dir, 'tiny.json'), '--out', out], {
      env: { PARKBENCH_SWARM_SEMI_SPACE_MB: '0' },
      timeoutMs: 120_000,
    })
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SwarmReport
    assert.deepEqual(
      report.resources.nodeFlags?.filter((f) => f.startsWith('--max-semi-space-size')),
      [],
    )
  })
})
