import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { SwarmReport } from '../../src/swarm/report-types.js'
import { PARKBENCH_BIN } from '../helpers/cli.js'

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

/** Heap sizes change what one process holds, so a report says which Node flags its run had. */
describe('swarm report: the Node flags of the run (a real `parkbench swarm run` process)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parkbench-node-flags-'))
    await writeFile(join(dir, 'tiny.json'), JSON.stringify(TINY))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('lists the flags node ran with, so a run is reproduced with the same heap', async () => {
    const out = join(dir, 'run')
    const args = ['--max-semi-space-size=32', PARKBENCH_BIN, 'swarm', 'run', join(dir, 'tiny.json'), '--out', out]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 })
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(code, 0, stderr)
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as SwarmReport
    assert.deepEqual(report.resources.nodeFlags, ['--max-semi-space-size=32'])
    const html = await readFile(join(out, 'report.html'), 'utf8')
    assert.match(html, /--max-semi-space-size=32/)
  })
})
