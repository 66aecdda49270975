import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { REPO_ROOT } from '../helpers/cli.js'

const run = promisify(execFile)

/**
 * An outside project that depends on the packed tarball: the package's files, its exports map and its examples are
 * what a user who runs `npm install parkbench` gets. Its dependencies are this repository's own installed ones,
 * linked in (a test may not download anything); that npm installs them from the lock is what CI's `npm ci` checks.
 */
describe('an external project using the packed package', () => {
  let dir: string
  let project: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-external-'))
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: REPO_ROOT,
    })
    const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>
    project = join(dir, 'project')
    const installed = join(project, 'node_modules', 'parkbench')
    await mkdir(installed, { recursive: true })
    await run('tar', ['-xzf', join(dir, filename), '-C', installed, '--strip-components=1'])
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'outside', private: true, type: 'module' }))
    const deps = join(REPO_ROOT, 'node_modules')
    for (const entry of await readdir(deps)) {
      if (entry === '.bin' || entry === '.package-lock.json' || entry === 'parkbench') continue
      if (entry.startsWith('@')) {
        await mkdir(join(project, 'node_modules', entry), { recursive: true })
        for (const scoped of await readdir(join(deps, entry))) {
          await symlink(join(deps, entry, scoped), join(project, 'node_modules', entry, scoped))
        }
      } else {
        await symlink(join(deps, entry), join(project, 'node_modules', entry))
      }
    }
  })

  after(async () => {
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  it('runs the README SDK example (examples/rent.mjs): a lease is paid and the model runs', async () => {
    const { stdout } = await run(process.execPath, [join('node_modules', 'parkbench', 'examples', 'rent.mjs')], {
      cwd: project,
      timeout: 120_000,
    })
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
      providerPeer: string
      outputs: string[]
      amountPaid: string
      ticksSent: number
    }
    assert.match(result.providerPeer, /^12D3KooW/)
    assert.ok(result.outputs.length > 0)
    assert.ok(result.ticksSent >= 1)
    assert.ok(BigInt(result.amountPaid) > 0n)
  })

  it('exposes the SDK and each part as its own entry, and nothing generated at the root', async () => {
    const script = `
      const root = await import('parkbench')
      const parts = {}
      for (const p of ['client', 'daemon', 'pay', 'market', 'lease', 'compute', 'net', 'gateway', 'dev']) {
        parts[p] = Object.keys(await import('parkbench/' + p)).length
      }
      console.log(JSON.stringify({ root: Object.keys(root), parts }))
    `
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project })
    const { root, parts } = JSON.parse(stdout) as { root: string[]; parts: Record<string, number> }
    for (const name of ['createClient', 'createDaemon', 'loadChainConfig', 'resolveEvmAccount', 'Tensor']) {
      assert.ok(root.includes(name), `parkbench exports ${name}`)
    }
    for (const name of ['readOnnxTensorFile', 'NoProviderError', 'InvalidInferenceInputError']) {
      assert.ok(root.includes(name), `parkbench exports ${name}`)
    }
    assert.ok(!root.some((n) => /MNEMONIC|WorkerPool|^[A-Z][a-zA-Z]+(Request|Reply|Message|Response)$/.test(n)))
    for (const [part, count] of Object.entries(parts)) assert.ok(count > 0, `parkbench/${part} has exports`)
  })
})
