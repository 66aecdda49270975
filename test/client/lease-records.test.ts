import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { type ClientProgressEvent, createClient, type RenterClient } from '../../src/client/index.js'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { readLeaseLog } from '../../src/lease/lease-log.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'

const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
})

const sleep = async (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('the renter records each lease it held exactly once', () => {
  let chain: DevChain
  let provider: Daemon
  let client: RenterClient
  let renterDir: string
  const events: ClientProgressEvent[] = []
  const model = addModel()

  before(async () => {
    chain = await startDevChain()
    const dir = await mkdtemp(join(tmpdir(), 'pb-lease-records-'))
    provider = createDaemon({
      config: resolveConfig(join(dir, 'provider'), {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        offer: { pricePerSecond: '1000', threads: 2, maxLeaseSeconds: 60 },
      }),
      chain,
      account: privateKeyToAccount(chain.accounts[2]!.privateKey),
      control: false,
    })
    await provider.start()
    await provider.compute.store.add(model, { name: 'add.onnx' })
    await provider.syncModels()
    renterDir = join(dir, 'renter')
    client = await createClient({
      dataDir: renterDir,
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      idleMs: 400,
      onEvent: (e) => events.push(e),
    })
  })

  after(async () => {
    await client?.close()
    await provider?.stop()
    await chain?.stop()
  })

  it('a provider that ends an automatic lease before it goes idle: one lease-ended event, one lease-log line', async () => {
    const peer = provider.node.getMultiaddrs()[0]!
    const result = await client.infer({ model, inputs: inputs(), maxPricePerSecond: 1000n, provider: peer })
    // The provider ends the lease (it shuts down) while the client still holds it for idleness.
    await provider.leases!.stop()
    await sleep(1_200) // past the client's idle timeout, which would end the lease a second time
    const ended = events.filter((e) => e.type === 'lease:ended' && e.summary.leaseId === result.leaseId)
    assert.equal(ended.length, 1)
    assert.equal(client.leaseHistory().filter((s) => s.leaseId === result.leaseId).length, 1)
    await client.close()
    const logged = (await readLeaseLog(renterDir)).filter((l) => l.leaseId === result.leaseId)
    assert.equal(logged.length, 1)
    assert.equal(logged[0]!.endReason, 'PROVIDER_SHUTDOWN')
  })
})
