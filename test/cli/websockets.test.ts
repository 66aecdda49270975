import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { addModel } from '../../src/compute/onnx-builder.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { type LongRunning, runCli, startProviderCli, writeChainFile } from '../helpers/cli.js'

// WebSockets: a provider that listens on `/ws` (what a browser or a network that passes only HTTP can reach) sells
// to a renter that knows only that address.
describe('parkbench over WebSockets', () => {
  let chain: DevChain
  let provider: LongRunning
  let dir: string
  let chainFile: string

  before(async () => {
    chain = await startDevChain()
    dir = await mkdtemp(join(tmpdir(), 'pb-ws-'))
    chainFile = await writeChainFile(chain, dir)
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    ;({ provider } = await startProviderCli({
      dataDir: join(dir, 'provider'),
      chainFile,
      privateKey: chain.accounts[3]!.privateKey,
      price: 1000n,
      modelFile,
      flags: ['--listen', '/ip4/127.0.0.1/tcp/0/ws'],
    }))
  })

  after(async () => {
    await provider?.stop()
    await chain?.stop()
  })

  it('a renter leases, pays and gets its result through the provider’s WebSocket address only', async () => {
    const ws = (await provider.waitFor(/listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/\S+)/))[1]!
    const input = join(dir, 'input.json')
    await writeFile(
      input,
      JSON.stringify({
        a: { dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        b: { dtype: 'float32', dims: [2, 3], data: [1, 1, 1, 1, 1, 1] },
      }),
    )
    const run = await runCli([
      'infer',
      '--peer',
      ws,
      '--model',
      join(dir, 'add.onnx'),
      '--input',
      input,
      '--max-price',
      '5000',
      '--json',
      '--data-dir',
      join(dir, 'renter'),
      '--chain',
      chainFile,
      '--private-key',
      chain.accounts[4]!.privateKey,
    ])
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout)
    assert.equal(result.paid, true)
    assert.deepEqual(result.outputs.y.data, [2, 3, 4, 5, 6, 7])
    assert.ok(BigInt(result.lease.amountPaid) >= 1000n)
  })
})
