import assert from 'node:assert/strict'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { controlRequest } from '../../src/daemon/control.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { consoleFetch } from '../daemon/console-fixture.js'
import { runMain, startCli, writeChainFile } from '../helpers/cli.js'

describe('`parkbench start` serves the owner console; `parkbench console` prints its URL', () => {
  let chain: DevChain
  let dir: string
  let chainFile: string

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-console-cli-'))
    chainFile = await writeChainFile(chain, dir)
  })

  after(async () => {
    await chain?.stop()
  })

  const start = (dataDir: string, flags: string[]) =>
    startCli([
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[2]!.privateKey,
      ...flags,
    ])

  it('prints the URL with a token kept 0600 in the data dir; the same token after a restart; none with --no-console', async () => {
    const dataDir = join(dir, 'provider')
    const first = start(dataDir, ['--console-port', '0'])
    let url: string
    try {
      url = (await first.waitFor(/owner console (http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43})/))[1]!
      const printed = await runMain(['console', '--data-dir', dataDir])
      assert.equal(printed.code, 0, printed.stderr)
      assert.equal(printed.stdout.trim(), url)
      const json = await runMain(['console', '--data-dir', dataDir, '--json'])
      assert.deepEqual(JSON.parse(json.stdout), { url })
      const token = new URL(url).hash.slice('#token='.length)
      const tokenFile = join(dataDir, 'console.token')
      assert.equal((await stat(tokenFile)).mode & 0o777, 0o600)
      assert.equal((await readFile(tokenFile, 'utf8')).trim(), token)
      const state = await consoleFetch(url, '/api/v1/state', { token })
      assert.equal(state.status, 200)
      assert.equal(state.json.selling.state, 'selling')
      assert.equal(state.json.pollMs, 2000)
      // Pause and resume through the control socket (scripts, service hooks); `status` says so.
      await controlRequest(dataDir, 'POST', '/v1/pause', {})
      const paused = await runMain(['status', '--data-dir', dataDir, '--json'])
      assert.equal(JSON.parse(paused.stdout).paused.by, 'owner')
      assert.equal(JSON.parse(paused.stdout).selling, false)
      assert.match((await runMain(['status', '--data-dir', dataDir])).stdout, /paused by its owner/)
      await controlRequest(dataDir, 'POST', '/v1/resume', {})
      assert.equal(JSON.parse((await runMain(['status', '--data-dir', dataDir, '--json'])).stdout).selling, true)
    } finally {
      assert.equal(await first.stop(), 0)
    }
    const second = start(dataDir, ['--no-console'])
    try {
      await second.waitFor(/Press Ctrl\+C/)
      assert.ok(!second.output().includes('owner console'))
      const refused = await runMain(['console', '--data-dir', dataDir])
      assert.equal(refused.code, 1)
      assert.match(refused.stderr, /CONSOLE_NOT_SERVED/)
      assert.equal(
        (await readFile(join(dataDir, 'console.token'), 'utf8')).trim(),
        new URL(url).hash.slice('#token='.length),
        'the token survives a restart',
      )
    } finally {
      await second.stop()
    }
    const none = await runMain(['console', '--data-dir', join(dir, 'nobody')])
    assert.equal(none.code, 1)
    assert.match(none.stderr, /DAEMON_NOT_RUNNING/)
  })
})
