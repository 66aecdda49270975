import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'
import { type AminoSwarm, startAminoSwarm } from '../helpers/amino-swarm.js'
import { type LongRunning, runCli, startProviderCli, writeChainFile } from '../helpers/cli.js'

/**
 * The whole path through a DHT parkbench does not run: 8 plain Amino nodes (stock kad-dht on /ipfs/kad/1.0.0, in
 * this process), a `parkbench start --amino` provider and a `parkbench infer --amino` renter, each joined only to
 * the Amino swarm (no --bootstrap: they share no parkbench DHT peer). `--amino-lan` keeps loopback addresses, which
 * the public network's mapper would drop; the public bootstrap list is never used (--amino-bootstrap replaces it).
 */
describe('parkbench start --amino + parkbench infer --amino through a local Amino swarm', () => {
  let chain: DevChain
  let swarm: AminoSwarm
  let provider: LongRunning
  let providerPeer: string
  let dir: string
  let chainFile: string
  let modelFile: string
  let inputFile: string

  before(async () => {
    chain = await startDevChain()
    swarm = await startAminoSwarm(8)
    dir = await mkdtemp(join(tmpdir(), 'pb-amino-cli-'))
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
    const started = await startProviderCli({
      dataDir: join(dir, 'provider'),
      chainFile,
      privateKey: chain.accounts[2]!.privateKey,
      price: 1000n,
      modelFile,
      flags: ['--amino-bootstrap', swarm.bootstrap[0]!, '--amino-lan'],
    })
    provider = started.provider
    providerPeer = started.peerId
    await provider.waitFor(/on the IPFS Amino DHT too \(client, all addresses\)/)
  })

  after(async () => {
    await provider?.stop()
    await swarm?.stop()
    await chain?.stop()
  })

  const amino = (): string[] => ['--amino-bootstrap', swarm.bootstrap[0]!, '--amino-lan']

  it('offers --amino lists the provider with its verified offer', async () => {
    // The daemon provides in the background after start: ask again until its records are stored.
    let offers: Array<{ peerId: string; pricePerSecond: string }> = []
    for (let i = 0; i < 20 && offers.length === 0; i++) {
      const run = await runCli(['offers', ...amino(), '--json', '--timeout', '5000', '--data-dir', join(dir, 'r1')])
      assert.equal(run.code, 0, run.stderr)
      offers = JSON.parse(run.stdout)
      if (offers.length === 0) await new Promise((r) => setTimeout(r, 250))
    }
    assert.deepEqual(
      offers.map((o) => [o.peerId, o.pricePerSecond]),
      [[providerPeer, '1000']],
    )
  })

  it('infer --amino finds the provider there, leases, pays and gets the result', async () => {
    const run = await runCli([
      'infer',
      ...amino(),
      '--model',
      modelFile,
      '--input',
      inputFile,
      '--max-price',
      '5000',
      '--json',
      '--data-dir',
      join(dir, 'renter'),
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[1]!.privateKey,
    ])
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.paid, true)
    assert.equal(result.provider, providerPeer, 'the provider it could only have found through Amino')
    assert.deepEqual(result.outputs.y.data, [11, 12, 13, 14, 15, 16])
    assert.ok(BigInt(result.lease.amountPaid) >= 1000n, 'at least the prepaid tick')
  })
})
