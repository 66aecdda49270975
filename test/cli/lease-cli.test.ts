import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'
import { type LongRunning, runCli, startProviderCli, writeChainFile } from '../helpers/cli.js'

interface LeaseEntry {
  role: 'provider' | 'renter'
  leaseId: string
  amountPaid: string
  endReason?: string
}

describe('parkbench infer (discovery, lease, pay), leases, status and channel settle against a running daemon', () => {
  let chain: DevChain
  let chainFile: string
  let modelFile: string
  let inputFile: string
  let providerDir: string
  let renterDir: string
  let provider: LongRunning
  let address: string
  let providerKey: string
  let renterKey: string

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-lease-cli-'))
    chainFile = await writeChainFile(chain, dir)
    modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    inputFile = join(dir, 'input.json')
    await writeFile(
      inputFile,
      JSON.stringify({
        a: { dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        b: { dtype: 'float32', dims: [2, 3], data: [10, 10, 10, 10, 10, 10] },
      }),
    )
    providerDir = join(dir, 'provider')
    renterDir = join(dir, 'renter')
    providerKey = chain.accounts[2]!.privateKey
    renterKey = chain.accounts[1]!.privateKey
    ;({ provider, address } = await startProviderCli({
      dataDir: providerDir,
      chainFile,
      privateKey: providerKey,
      price: 1000n,
      modelFile,
    }))
  })

  after(async () => {
    await provider?.stop()
    await chain?.stop()
  })

  const renterArgs = (): string[] => ['--data-dir', renterDir, '--chain', chainFile, '--private-key', renterKey]
  /** `parkbench infer` of the add model as the renter, finding the provider by `how` (--bootstrap or --peer). */
  const inferArgs = (how: '--bootstrap' | '--peer', maxPrice: string, ...more: string[]): string[] => [
    'infer',
    how,
    address,
    '--model',
    modelFile,
    '--input',
    inputFile,
    '--max-price',
    maxPrice,
    ...more,
    ...renterArgs(),
  ]

  it('finds the provider, leases, pays, and both sides list the lease with the same amount; the daemon settles it', async () => {
    const run = await runCli(inferArgs('--bootstrap', '5000', '--json'))
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.paid, true)
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    const paid = BigInt(result.lease.amountPaid)
    assert.ok(paid >= 1000n, 'at least the prepaid tick')
    assert.equal(result.lease.endReason, 'RENTER_ENDED')

    const renterLeases = JSON.parse((await runCli(['leases', '--json', '--data-dir', renterDir])).stdout)
    assert.equal(renterLeases.daemon, 'not running')
    const rented = renterLeases.past.find((l: LeaseEntry) => l.leaseId === result.leaseId)
    assert.equal(rented.role, 'renter')
    assert.equal(BigInt(rented.amountPaid), paid)

    // The provider's record of the same lease, read from the running daemon's data dir.
    let sold: LeaseEntry | undefined
    for (let i = 0; i < 50 && sold == null; i++) {
      const listed = JSON.parse((await runCli(['leases', '--json', '--data-dir', providerDir])).stdout)
      assert.equal(listed.daemon, 'running')
      sold = listed.past.find((l: LeaseEntry) => l.leaseId === result.leaseId)
      if (sold == null) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(sold?.role, 'provider')
    assert.equal(BigInt(sold!.amountPaid), paid)
    assert.equal(sold!.endReason, 'RENTER_ENDED')

    const status = JSON.parse((await runCli(['status', '--json', '--data-dir', providerDir])).stdout)
    assert.equal(status.selling, true)
    assert.equal(status.load.leases.active, 0)
    assert.ok(status.load.eventLoop.p99Ms >= 0 && status.load.cpuUserMicros > 0)

    // The daemon holds its payment store; `channel settle` asks it to settle instead. At 1,000 wei/s the gas costs
    // more than the channel pays: the daemon says so and settles nothing, unless forced.
    const settleArgs = ['--data-dir', providerDir, '--chain', chainFile, '--private-key', providerKey]
    const weighed = await runCli(['channel', 'settle', '--json', ...settleArgs])
    assert.equal(weighed.code, 0, weighed.stderr)
    const report = JSON.parse(weighed.stdout)
    assert.equal(report.settled.length, 0)
    assert.equal(report.skipped.length, 1)
    assert.equal(BigInt(report.skipped[0].gain), paid)
    assert.ok(BigInt(report.skipped[0].estimatedCost) > paid)
    const settle = await runCli([
      'channel',
      'settle',
      '--force',
      '--json',
      '--data-dir',
      providerDir,
      '--chain',
      chainFile,
      '--private-key',
      providerKey,
    ])
    assert.equal(settle.code, 0, settle.stderr)
    const settled = JSON.parse(settle.stdout)
    assert.equal(settled.via, 'daemon')
    assert.equal(settled.settled.length, 1)
    assert.equal(BigInt(settled.settled[0].paid), paid)
    // The provider sees what it earned: gross, the settlement's gas, net (at this price, a loss it chose to take).
    const earned = JSON.parse((await runCli(['status', '--json', '--data-dir', providerDir])).stdout).earnings
    const [eth] = earned.tokens
    assert.equal(BigInt(eth.settled), paid)
    assert.equal(BigInt(eth.gasSpent), BigInt(settled.settled[0].gasCost))
    assert.equal(BigInt(eth.net), paid - BigInt(settled.settled[0].gasCost))
    assert.equal(BigInt(earned.unsettled), 0n)
    const providerChannels = JSON.parse(
      (await runCli(['channel', 'status', '--json', ...settleArgs])).stdout,
    ).channels.filter((c: { role: string }) => c.role === 'provider')
    assert.equal(BigInt(providerChannels[0].gasSpent), BigInt(eth.gasSpent))

    // A second run reuses the channel (no new deposit) and is charged on top; on-chain settled = the first run.
    const again = await runCli(inferArgs('--peer', '5000', '--json'))
    assert.equal(again.code, 0, again.stderr)
    const second = JSON.parse(again.stdout)
    const channels = JSON.parse((await runCli(['channel', 'status', '--json', ...renterArgs()])).stdout)
    assert.equal(channels.channels.length, 1, 'the channel was reused')
    assert.equal(BigInt(channels.channels[0].settled), paid)
    assert.equal(BigInt(channels.channels[0].paidOffChain), paid + BigInt(second.lease.amountPaid))
  })

  it('refuses to lease without a price ceiling, and says when no daemon runs', async () => {
    const noPrice = await runCli(['infer', '--bootstrap', address, '--model', modelFile, '--input', inputFile])
    assert.equal(noPrice.code, 2)
    assert.match(noPrice.stderr, /--max-price/)
    const tooCheap = await runCli(inferArgs('--peer', '10'))
    assert.equal(tooCheap.code, 1)
    assert.match(tooCheap.stderr, /NO_PROVIDER.*over the ceiling/)

    const empty = await mkdtemp(join(tmpdir(), 'pb-empty-'))
    const status = await runCli(['status', '--data-dir', empty])
    assert.equal(status.code, 1)
    assert.match(status.stderr, /DAEMON_NOT_RUNNING/)
    const leases = await runCli(['leases', '--data-dir', empty])
    assert.equal(leases.code, 0)
    assert.match(leases.stdout, /daemon not running/)
  })
})
