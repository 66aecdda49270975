import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import type { ClientProgressEvent } from '../../src/client/events.js'
import { createClient, type RenterClient } from '../../src/client/index.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'
import { type LongRunning, startProviderCli, writeChainFile } from '../helpers/cli.js'

const x = () => new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])

/**
 * A renter whose event loop is held up past its tick's 100 ms lead (a large JSON body parsed in the gateway, a slow
 * callback) sends a job just past the paid second: the provider refuses it NOT_AUTHORIZED although the lease is
 * fine. The client waits for the tick and sends the job again, on the same lease, instead of failing over.
 */
describe('a job that reaches the provider just past a paid second', () => {
  let chain: DevChain
  let provider: LongRunning
  let providerId: string
  let client: RenterClient
  const events: ClientProgressEvent[] = []

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-paid-boundary-'))
    const modelFile = join(dir, 'add.onnx')
    await writeFile(modelFile, addModel())
    // In its own process, so that blocking this one does not stop the provider's clock.
    ;({ provider, peerId: providerId } = await startProviderCli({
      dataDir: join(dir, 'provider'),
      chainFile: await writeChainFile(chain, dir),
      privateKey: chain.accounts[2]!.privateKey,
      price: 1000n,
      modelFile,
    }))
    const address = (provider.output().match(/listening on (\S+)/) ?? [])[1]!
    client = await createClient({
      dataDir: join(dir, 'renter'),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: [address],
      idleMs: 60_000,
      onEvent: (e) => events.push(e),
    })
  })

  after(async () => {
    await client?.close()
    await provider?.stop()
    await chain?.stop()
  })

  it('is sent again once the late tick lands, on the same lease, with no failover', async () => {
    const model = addModel()
    let startedAt = 0
    const first = await client.infer(
      { model, inputs: { a: x(), b: x() }, maxPricePerSecond: 5_000n },
      {
        onProgress: (e) => {
          if (e.type === 'lease:started') startedAt = performance.now()
        },
      },
    )
    assert.equal(first.providerPeer, providerId)
    // Tick 3 is due about 1.9 s after the start (paying for the third second from 2.0 s): hold the event loop from
    // just before it until past the paid boundary, then send a job at once, ahead of the tick.
    await new Promise((r) => setTimeout(r, Math.max(0, startedAt + 1_850 - performance.now())))
    const until = startedAt + 2_200
    while (performance.now() < until) {
      // busy: the renter's event loop is held up
    }
    const second = await client.infer({ model, inputs: { a: x(), b: x() }, maxPricePerSecond: 5_000n })
    assert.equal(second.providerPeer, providerId)
    assert.equal(second.leaseId, first.leaseId, 'the same lease served it')
    assert.deepEqual(Array.from(second.outputs.y!.data as Float32Array), [2, 4, 6, 8, 10, 12])
    assert.ok(!events.some((e) => e.type === 'failover'), JSON.stringify(events.filter((e) => e.type === 'failover')))
  })
})
