import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Tensor } from 'onnxruntime-node'
import { privateKeyToAccount } from 'viem/accounts'
import { getBalance } from 'viem/actions'
import { resolveConfig } from '../../src/daemon/config.js'
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js'
import { type Client, createClient } from '../../src/daemon/renter-client.js'
import { createPayPublicClient } from '../../src/pay/clients.js'
import { type DevChain, startDevChain } from '../../src/pay/dev-chain.js'
import { addModel } from '../compute/onnx-builder.js'

const inputs = () => ({
  a: new Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]),
  b: new Tensor('float32', Float32Array.from([1, 1, 1, 1, 1, 1]), [2, 3]),
})

describe('client.infer against provider daemons (discovery, channel, lease, failover, settlement)', () => {
  let chain: DevChain
  const daemons: Daemon[] = []
  let client: Client
  let cheap: Daemon
  let dear: Daemon
  const model = addModel()

  const startProvider = async (accountIndex: number, price: bigint, bootstrap: string[]): Promise<Daemon> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pb-daemon-'))
    const config = resolveConfig(dataDir, {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap,
      offer: { pricePerSecond: String(price), threads: 2, maxLeaseSeconds: 60 },
    })
    const daemon = createDaemon({
      config,
      chain,
      account: privateKeyToAccount(chain.accounts[accountIndex]!.privateKey),
    })
    await daemon.start()
    await daemon.compute.store.add(model, { name: 'add.onnx' })
    await daemon.syncModels()
    daemons.push(daemon)
    return daemon
  }

  before(async () => {
    chain = await startDevChain()
    dear = await startProvider(2, 2_000n, [])
    const hub = dear.node.getMultiaddrs().map((a) => a.toString())
    cheap = await startProvider(3, 1_000n, hub)
    client = await createClient({
      dataDir: await mkdtemp(join(tmpdir(), 'pb-renter-')),
      chain,
      account: privateKeyToAccount(chain.accounts[1]!.privateKey),
      bootstrap: hub,
      leaseSeconds: 30,
      idleMs: 60_000,
    })
    // Both providers have advertised once the DHT has them.
    for (const d of daemons) await d.syncModels()
  })

  after(async () => {
    await client?.close()
    for (const d of daemons) await d.stop().catch(() => {})
    await chain?.stop()
  })

  it('leases the cheapest provider, fails over when it dies, and every accepted payment settles on-chain', async () => {
    const cheapId = cheap.node.peerId.toString()
    const dearId = dear.node.peerId.toString()
    const first = await client.infer({ model, inputs: inputs(), maxPricePerSecond: 5_000n })
    assert.equal(first.provider, cheapId)
    assert.deepEqual(Array.from(first.outputs.y!.data as Float32Array), [2, 3, 4, 5, 6, 7])
    await new Promise((r) => setTimeout(r, 1_500))

    // The cheap provider crashes mid-lease.
    await cheap.stop()
    const second = await client.infer({ model, inputs: inputs(), maxPricePerSecond: 5_000n })
    assert.equal(second.provider, dearId)
    await new Promise((r) => setTimeout(r, 1_200))
    await client.close()

    const history = client.leaseHistory()
    const onDear = history.filter((s) => s.provider === dearId)
    const onCheap = history.filter((s) => s.provider === cheapId)
    assert.equal(onCheap.length, 1)
    assert.equal(onDear.length, 1)
    // The renter paid the dead provider for at most one tick it never acknowledged.
    assert.ok(onCheap[0]!.ticksSent - onCheap[0]!.ticksAcknowledged <= 1)

    // The surviving provider settles what it accepted; its balance grows by exactly that (minus gas).
    const receiver = dear.receiver!
    const channelId = onDear[0]!.channelId
    const accepted = receiver.channelTotal(channelId)
    assert.equal(accepted, onDear[0]!.amountPaid)
    const publicClient = createPayPublicClient(chain)
    const payout = privateKeyToAccount(chain.accounts[2]!.privateKey).address
    const before = await getBalance(publicClient, { address: payout })
    const [settled] = await dear.settler!.settle(channelId)
    assert.equal(settled!.paid, accepted)
    const afterBalance = await getBalance(publicClient, { address: payout })
    const receipt = await publicClient.getTransactionReceipt({ hash: settled!.transactionHash })
    assert.equal(afterBalance - before, accepted - receipt.gasUsed * receipt.effectiveGasPrice)
  })
})
