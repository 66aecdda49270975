import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { runCli, startCli, writeChainFile } from '../helpers/cli.js'

describe('parkbench start + parkbench offers, two processes on loopback', () => {
  let chain: DevChain
  let chainFile: string
  before(async () => {
    chain = await startDevChain()
    chainFile = await writeChainFile(chain, await mkdtemp(join(tmpdir(), 'pb-chain-')))
  })
  after(async () => {
    await chain?.stop()
  })

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
      '--chain',
      chainFile,
    ])
    try {
      const [, address] = await provider.waitFor(/listening on (\S+)/)
      const [, peerId] = provider.output().match(/parkbench node (\S+)/)!
      const [, payout] = provider.output().match(/paid to (0x[0-9a-fA-F]{40})/)!
      const id = await runCli(['id', '--data-dir', dataDir])
      assert.equal(id.stdout.trim(), peerId, 'the daemon uses the persistent key in its data dir')

      const result = await runCli(['offers', '--bootstrap', address!, '--json', '--timeout', '5000'])
      assert.equal(result.code, 0, result.stderr)
      const offers = JSON.parse(result.stdout) as Array<{
        peerId: string
        pricePerSecond: string
        rttMs: number
        payoutAddress: string
        channelContract: string
        chainId: string
      }>
      assert.equal(offers.length, 1)
      assert.equal(offers[0]!.peerId, peerId)
      assert.equal(offers[0]!.pricePerSecond, '777')
      assert.equal(offers[0]!.payoutAddress.toLowerCase(), payout!.toLowerCase())
      assert.equal(offers[0]!.channelContract.toLowerCase(), chain.contract.toLowerCase())
      assert.equal(offers[0]!.chainId, String(chain.chainId))
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
    // A first start with no chain anywhere runs without selling and says, once, how to sell.
    const noChain = startCli(['start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-console'], {
      env: { PARKBENCH_CHAIN: '' },
    })
    await noChain.waitFor(/not selling/)
    assert.equal(await noChain.stop(), 0)
    const said = noChain.errors().trim().split('\n')
    assert.equal(said.length, 1, noChain.errors())
    assert.match(said[0]!, /not selling: no chain to be paid on .*parkbench chain --fund-data-dir/)
    // A chain named but missing is an error: the user asked for it.
    const missing = await runCli(['start', '--data-dir', dataDir, '--chain', join(dataDir, 'nope.json')])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /CHAIN_CONFIG/)
  })
})
