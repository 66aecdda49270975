import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { appendLeaseLog } from '../../src/lease/lease-log.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { runCli, runMain, startCli, writeChainFile } from '../helpers/cli.js'

/** Human units on the command line and in text output; --json keeps exact base units (real anvil, real daemon). */
describe('amounts people can read, in the CLI', () => {
  let chain: DevChain
  let dir: string
  let chainFile: string

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-amounts-'))
    chainFile = await writeChainFile(chain, dir)
  })
  after(async () => {
    await chain?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('start --price 10gwei/s sells at 10^10 wei/s; status, offers and --max-price speak the same units', async () => {
    const dataDir = join(dir, 'provider')
    const provider = startCli([
      'start',
      '--data-dir',
      dataDir,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--price',
      '10gwei/s',
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[2]!.privateKey,
    ])
    try {
      const [, address] = await provider.waitFor(/listening on (\S+)/)
      await provider.waitFor(/Press Ctrl\+C/)
      assert.match(provider.output(), /selling \d+ threads at 10 gwei\/s \(0\.000036 ETH\/h\)/)

      const statusJson = await runCli(['status', '--data-dir', dataDir, '--json'])
      assert.equal(statusJson.code, 0, statusJson.stderr)
      const status = JSON.parse(statusJson.stdout)
      assert.equal(status.offer.pricePerSecond, '10000000000', '--json keeps exact base units')
      assert.equal(status.offer.tokenSymbol, 'ETH')
      assert.deepEqual(status.tokenUnits, { symbol: 'ETH', decimals: 18, native: true })
      const statusText = await runCli(['status', '--data-dir', dataDir])
      assert.match(statusText.stdout, /at 10 gwei\/s \(0\.000036 ETH\/h\)/)
      assert.match(statusText.stdout, /accepted, not yet settled: 0 ETH/)

      const offers = (maxPrice: string, json = true) =>
        runCli(['offers', '--bootstrap', address!, '--max-price', maxPrice, ...(json ? ['--json'] : [])])
      // Exactly the price, per hour: included; one wei per second less: not.
      const atPrice = await offers('0.000036 ETH/h')
      assert.equal(atPrice.code, 0, atPrice.stderr)
      assert.equal(JSON.parse(atPrice.stdout).length, 1)
      assert.equal(JSON.parse(atPrice.stdout)[0].tokenDecimals, 18)
      const below = await offers('9999999999')
      assert.equal(below.code, 0, below.stderr)
      assert.equal(JSON.parse(below.stdout).length, 0)
      const text = await offers('1.2e-8 ETH/s', false)
      assert.match(text.stdout, /10 gwei\/s \(0\.000036 ETH\/h\)/)
    } finally {
      assert.equal(await provider.stop('SIGINT'), 0)
    }
  })

  it('start in the dev token: its symbol comes from the chain, and amounts are read in its decimals', async () => {
    const dataDir = join(dir, 'token-provider')
    const provider = startCli([
      'start',
      ...['--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--chain', chainFile],
      ...['--private-key', chain.accounts[3]!.privateKey, '--token', chain.token, '--price', '0.36 PBDEV/h'],
    ])
    try {
      await provider.waitFor(/Press Ctrl\+C/)
      assert.match(provider.output(), /at 0\.0001 PBDEV\/s \(0\.36 PBDEV\/h\)/)
      const status = JSON.parse((await runCli(['status', '--data-dir', dataDir, '--json'])).stdout)
      assert.equal(status.offer.pricePerSecond, '100000000000000')
      assert.equal(status.offer.tokenSymbol, 'PBDEV', 'the symbol the token contract gives, not a guess')
    } finally {
      assert.equal(await provider.stop('SIGINT'), 0)
    }
  })

  it('refuses, with exit 2 and INVALID_AMOUNT, another token or a rate that is not whole base units per second', async () => {
    const dataDir = join(dir, 'refused')
    const start = (price: string) =>
      runMain([
        'start',
        '--data-dir',
        dataDir,
        '--chain',
        chainFile,
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--price',
        price,
      ])
    for (const price of ['0.036USDC/h', '1 wei/h', '1.5', 'ten gwei']) {
      const result = await start(price)
      assert.equal(result.code, 2, `${price}: ${result.stderr}`)
      assert.match(result.stderr, /^error \[INVALID_AMOUNT\]: --price/)
      assert.equal(result.stderr.trim().split('\n').length, 1)
    }
    const infer = await runMain([
      ...['infer', '--model', 'a'.repeat(64), '--input', 'x.json', '--peer'],
      '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGzYzGMhWGZZkNvnbGXKSz9wR4R7P5f5bN2hV6oKc4Z3Y',
      ...['--max-price', '1 PBDEV/s'],
    ])
    assert.equal(infer.code, 2, infer.stderr)
    assert.match(infer.stderr, /INVALID_AMOUNT.*--max-price/)
  })

  it('channel open --amount 0.01ETH and top-up --amount 1gwei; text shows ETH, --json exact wei', async () => {
    const renter = [
      '--data-dir',
      join(dir, 'renter'),
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[4]!.privateKey,
    ]
    const peer = (await runMain(['id', '--data-dir', join(dir, 'provider')])).stdout.trim()
    const to = ['--provider', chain.accounts[2]!.address, '--peer', peer]
    const opened = await runMain(['channel', 'open', ...renter, ...to, '--amount', '0.01ETH', '--json'])
    assert.equal(opened.code, 0, opened.stderr)
    const { channelId, deposit } = JSON.parse(opened.stdout)
    assert.equal(deposit, '10000000000000000')

    const topped = await runMain(['channel', 'top-up', ...renter, '--channel', channelId, '--amount', '1 gwei'])
    assert.equal(topped.code, 0, topped.stderr)
    assert.match(topped.stdout, /deposit now 0\.010000001 ETH/)
    const status = await runMain(['channel', 'status', ...renter, '--channel', channelId])
    assert.match(status.stdout, /token ETH {2}deposit 0\.010000001 ETH {2}settled 0 ETH/)
    assert.match(status.stdout, /paid off-chain 0 ETH/)

    const dev = await runMain(['channel', 'open', ...renter, ...to, '--token', 'dev', '--amount', '1.5 PBDEV'])
    assert.equal(dev.code, 0, dev.stderr)
    assert.match(dev.stdout, /deposit 1\.5 PBDEV/)

    const wrong = await runMain(['channel', 'open', ...renter, ...to, '--amount', '0.01 USDC'])
    assert.equal(wrong.code, 2)
    assert.match(wrong.stderr, /^error \[INVALID_AMOUNT\]: --amount/)
    const gweiOnToken = await runMain(['channel', 'open', ...renter, ...to, '--token', 'dev', '--amount', '1gwei'])
    assert.equal(gweiOnToken.code, 2, 'gwei is a unit of the native coin only')
    // Base units, as before.
    const plain = await runMain(['channel', 'open', ...renter, ...to, '--amount', '7000', '--json'])
    assert.equal(JSON.parse(plain.stdout).deposit, '7000')
  })

  it('leases shows past leases in ETH units; --json keeps the base units it logged', async () => {
    const dataDir = join(dir, 'past')
    await mkdir(dataDir, { recursive: true })
    const entry = {
      role: 'renter' as const,
      leaseId: `0x${'ab'.repeat(32)}`,
      endedAt: Date.now(),
      providerPeer: 'peer',
    }
    await appendLeaseLog(dataDir, {
      ...entry,
      pricePerSecond: 10_000_000_000n,
      amountPaid: 30_000_000_000n,
      ticksSent: 3,
    })
    const text = await runMain(['leases', '--data-dir', dataDir])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /rented at peer {2}10 gwei\/s \(0\.000036 ETH\/h\) {2}3 ticks = 30 gwei/)
    const json = JSON.parse((await runMain(['leases', '--data-dir', dataDir, '--json'])).stdout)
    assert.equal(json.past[0].amountPaid, '30000000000')
  })
})
