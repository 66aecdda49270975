import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { runCli, startCli } from '../helpers/cli.js'

const PAYMENT_FLAGS = [
  '--payout',
  '0x1111111111111111111111111111111111111111',
  '--chain-id',
  '31337',
  '--contract',
  '0x2222222222222222222222222222222222222222',
]

describe('parkbench start + parkbench offers, two processes on loopback', () => {
  it('lists the running provider with its verified offer and measured RTT, and the provider stops cleanly', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pb-cli-'))
    const provider = startCli([
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--price',
      '777',
      ...PAYMENT_FLAGS,
    ])
    try {
      const [, address] = await provider.waitFor(/listening on (\S+)/)
      const [, peerId] = provider.output().match(/parkbench node (\S+)/)!
      const id = await runCli(['id', '--data-dir', dataDir])
      assert.equal(id.stdout.trim(), peerId, 'the daemon uses the persistent key in its data dir')

      const result = await runCli(['offers', '--bootstrap', address!, '--json', '--timeout', '5000'])
      assert.equal(result.code, 0, result.stderr)
      const offers = JSON.parse(result.stdout) as Array<{
        peerId: string
        pricePerSecond: string
        rttMs: number
        payoutAddress: string
      }>
      assert.equal(offers.length, 1)
      assert.equal(offers[0]!.peerId, peerId)
      assert.equal(offers[0]!.pricePerSecond, '777')
      assert.equal(offers[0]!.payoutAddress, '0x1111111111111111111111111111111111111111')
      assert.ok(typeof offers[0]!.rttMs === 'number' && offers[0]!.rttMs >= 0)
    } finally {
      assert.equal(await provider.stop('SIGINT'), 0)
    }
    assert.match(provider.output(), /stopped/)
  })

  it('prints one clear line and exits non-zero on bad input', async () => {
    const noBootstrap = await runCli(['offers'])
    assert.equal(noBootstrap.code, 2)
    assert.match(noBootstrap.stderr, /^error: .*--bootstrap/)
    assert.equal(noBootstrap.stderr.trim().split('\n').length, 1)

    const badFlag = await runCli(['offers', '--bootstrap', '/ip4/127.0.0.1/tcp/1', '--model', 'xyz'])
    assert.equal(badFlag.code, 2)

    const unknown = await runCli(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown command/)

    const help = await runCli(['offers', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /--max-rtt MS/)

    const dataDir = await mkdtemp(join(tmpdir(), 'pb-cli-'))
    const noChain = await runCli(['start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0'], {
      env: { PARKBENCH_CHAIN: '' },
    })
    assert.equal(noChain.code, 1)
    assert.match(noChain.stderr, /CHAIN_CONFIG/)
    assert.equal(noChain.stderr.trim().split('\n').length, 1)
  })
})
